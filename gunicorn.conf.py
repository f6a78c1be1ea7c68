"""gunicorn settings of the web process: ``gunicorn -c gunicorn.conf.py config.wsgi ...``.

gunicorn writes its own error log and access log outside Django's logging, and both can
hold a full URL, query string included (``?token=...``, a Green API path). The logger
class below gives gunicorn's handlers the project's formatter (``config.logging``), so
those lines are redacted like every other line and come out in the same shape: JSON in
production. Error lines go to stderr, access lines to stdout.

With ``PROMETHEUS_MULTIPROC_DIR`` set, each worker writes its counters there and
``child_exit`` (run by the master whenever a worker ends, also a killed one) drops the
live gauges of the worker that ended.
"""

from __future__ import annotations

import os

from gunicorn.glogging import Logger

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

accesslog = "-"
errorlog = "-"


class RedactingLogger(Logger):
    """gunicorn's logger, its lines formatted (and redacted) by ``config.logging.log_formatter``."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        # Loading the settings here, in the master, also fails a misconfigured start early.
        from django.conf import settings

        from config.logging import log_formatter

        formatter = log_formatter(json_output=settings.LOG_FORMAT == "json")
        for handler in (*self.error_log.handlers, *self.access_log.handlers):
            handler.setFormatter(formatter)


logger_class = RedactingLogger


def child_exit(server, worker) -> None:
    from config.metrics import metrics_process_dead

    metrics_process_dead(worker.pid)
