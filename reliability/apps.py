from django.apps import AppConfig


class ReliabilityConfig(AppConfig):
    name = "reliability"
    verbose_name = "Reliability"

    def ready(self) -> None:
        from config.metrics import register_state_collector
        from reliability.breaker import checks  # noqa: F401 - registers the system checks
        from reliability.breaker.metrics import breaker_state_collector, breaker_transition_collector
        from reliability.dashboard.panels import register_reliability_panels
        from reliability.degradation import checks as degradation_checks  # noqa: F401 - registers the system checks
        from reliability.degradation import conditions  # noqa: F401 - registers the condition kinds
        from reliability.degradation.metrics import degradation_event_collector, degradation_level_collector
        from reliability.dlq.metrics import dead_letter_state_collector
        from reliability.retry import metrics  # noqa: F401 - declared before the first retry, for dashboards

        register_state_collector(dead_letter_state_collector)
        register_state_collector(breaker_state_collector)
        register_state_collector(breaker_transition_collector)
        register_state_collector(degradation_level_collector)
        register_state_collector(degradation_event_collector)
        register_reliability_panels()
