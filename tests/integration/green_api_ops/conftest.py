from tests.integration.messaging.conftest import fresh_reliability, green_api  # noqa: F401 - fixtures
