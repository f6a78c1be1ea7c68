"""Suite-wide fixtures: the real services and the actors of the admin and APIs."""

from __future__ import annotations

import pytest
from django.conf import settings


def pytest_configure(config: pytest.Config) -> None:
    # Real-service tests must never quietly run on SQLite or skip for want of Redis.
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != "django.db.backends.postgresql" or not settings.REDIS_URL:
        raise pytest.UsageError(
            "the suite runs against real PostgreSQL and Redis: use `make test`, or "
            "`python -m tests.services -- pytest ...` to start throwaway servers"
        )
    settings.PASSWORD_HASHERS = ["tests.hashers.OneIterationPBKDF2PasswordHasher"]


@pytest.fixture(autouse=True)
def _degradation_level_of_its_own():
    """Each test starts at the normal level unless it sets another: a level published to the
    suite's Redis outlives the test that published it (and its rolled-back transaction), and
    would close the pipeline's gates in the tests after it."""
    from reliability.degradation import store

    store.redis_client().delete(store.STATE_KEY)
    store.view.forget()
    yield
    store.view.forget()


@pytest.fixture
def redis_client():
    """A client for the suite's Redis, emptied before each test that uses it."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def staff_user(django_user_model):
    """Staff without any reliability permission: may look, may not act."""
    return django_user_model.objects.create_user("staff", "staff@example.com", "staff-pass", is_staff=True)


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "root-pass")


@pytest.fixture
def operator_factory(django_user_model):
    """Build a staff user holding exactly the named ``reliability`` permissions."""
    from django.contrib.auth.models import Permission

    def make(*codenames: str, username: str = "operator"):
        user = django_user_model.objects.create_user(username, f"{username}@example.com", "op-pass", is_staff=True)
        perms = Permission.objects.filter(content_type__app_label="reliability", codename__in=codenames)
        missing = set(codenames) - set(perms.values_list("codename", flat=True))
        assert not missing, f"unknown permissions: {missing}"
        user.user_permissions.add(*perms)
        return user

    return make


@pytest.fixture
def handlers():
    """Register dead letter handlers for one test only: ``handlers["type"] = fn``.

    The handler an app registered for the type (messaging's ``whatsapp_message``, say) is
    put back afterwards, so later tests replay through the real one.
    """
    from reliability.dlq import registry

    previous: dict[str, object] = {}

    class Registrar:
        def __setitem__(self, message_type, fn):
            previous.setdefault(message_type, registry._handlers.get(message_type))
            registry.register_handler(message_type, fn)

    yield Registrar()
    for message_type, handler in previous.items():
        if handler is None:
            registry.unregister_handler(message_type)
        else:
            registry.register_handler(message_type, handler)
