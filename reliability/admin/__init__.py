"""Admin screens of the reliability app, one module per concept."""

from reliability.admin import audit, breakers, dead_letters, degradation, reports  # noqa: F401
