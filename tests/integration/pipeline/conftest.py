from tests.integration.messaging.conftest import deepseek, fresh_reliability  # noqa: F401 - fixtures
