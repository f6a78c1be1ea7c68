from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self) -> None:
        from messaging import (
            checks,  # noqa: F401 - registers the system checks
            metrics,  # noqa: F401 - every series is declared before the first scrape
        )
        from messaging.dashboard import register_dashboard_panels
        from messaging.dlq import register_dead_letter_handlers
        from messaging.reports import register_report_sections

        register_dead_letter_handlers()
        register_report_sections()
        register_dashboard_panels()
