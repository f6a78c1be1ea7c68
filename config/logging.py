"""structlog set up once for Django, Celery, gunicorn and every library that logs through stdlib.

Console output in development, one JSON object per line in production. Context bound
with ``structlog.contextvars`` (the request id) appears on every line of that request
or task, including lines logged by Django itself. Every line is redacted
(``reliability.redaction``), gunicorn's own error and access lines too (``GunicornLogger``,
used by ``gunicorn.conf.py``).
"""

from __future__ import annotations

import logging.config

import structlog

from reliability.redaction import redact_log_event

SHARED_PROCESSORS: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    redact_log_event,
]


def log_formatter(*, json_output: bool) -> structlog.stdlib.ProcessorFormatter:
    """The formatter of every handler: structlog events and plain stdlib records alike, redacted."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer(colors=False)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=SHARED_PROCESSORS,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            # Again after format_exc_info: a traceback's text exists only from here on.
            redact_log_event,
            renderer,
        ],
    )


def configure_logging(*, json_output: bool, level: str) -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"structlog": {"()": log_formatter, "json_output": json_output}},
            "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structlog"}},
            "root": {"handlers": ["console"], "level": level},
            "loggers": {
                "django.db.backends": {"level": "INFO"},
                # Every request is logged by our middleware with its id; skip the duplicate.
                "django.server": {"level": "WARNING"},
            },
        }
    )
    structlog.configure(
        processors=[
            *SHARED_PROCESSORS,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
