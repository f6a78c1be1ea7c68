from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self) -> None:
        from config.metrics import register_state_collector
        from messaging import checks  # noqa: F401 - registers the system checks
        from messaging.dashboard import register_dashboard_panels
        from messaging.dlq import register_dead_letter_handlers
        from messaging.metrics import outbox_state_collector  # every series is declared before the first scrape
        from messaging.reports import register_report_sections
        from messaging.services.release import release_on_level_drop
        from reliability.degradation.signals import degradation_level_changed

        register_dead_letter_handlers()
        register_state_collector(outbox_state_collector)
        register_report_sections()
        register_dashboard_panels()
        # Work held while the level was high is released when it drops.
        degradation_level_changed.connect(release_on_level_drop, dispatch_uid="messaging.release_on_level_drop")
