"""Admin screens of the reliability app, one module per concept."""

from reliability.admin import audit, dead_letters  # noqa: F401
