"""Admin screens of the messaging app, one module per concept."""

from messaging.admin import events, outbound, records, triggers  # noqa: F401
