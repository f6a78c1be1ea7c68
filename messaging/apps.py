from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self) -> None:
        from messaging import (
            checks,  # noqa: F401 - registers the system checks
            metrics,  # noqa: F401 - declared before first use, for dashboards
        )
