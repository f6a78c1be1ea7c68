"""Settings of the ingest benchmark's baseline: the product's settings, one bare view, no middleware.

Bench-only (``bench.ingest`` serves it with ``DJANGO_SETTINGS_MODULE=bench.bare_settings``);
the product never loads it.
"""

from config.settings import *  # noqa: F403 - the same database, cache, logging and apps

MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.bare_urls"
