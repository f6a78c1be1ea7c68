from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "health"
    verbose_name = "Health"

    def ready(self) -> None:
        from config.metrics import register_state_collector
        from health import checks  # noqa: F401 - every check's series is declared before the first scrape
        from health.degradation import register_conditions
        from health.metrics import health_state_collector
        from health.operations import register_operations

        register_conditions()
        register_state_collector(health_state_collector)
        register_operations()
