"""Which function re-runs the original work of a dead letter, by ``message_type``.

``reliability`` never imports ``messaging``: messaging registers its types
(``whatsapp_message``, ``sentiment_analysis``, ...) from its ``AppConfig.ready()``, and
Celery tasks built on ``reliability.tasks.ReliableTask`` register themselves. A handler
takes the stored payload and either returns (the letter is resolved) or raises (the
failure is classified and the recovery strategy applies).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reliability.dlq.exceptions import NoHandlerRegistered
from reliability.dlq.metrics import message_type_series_declare

Handler = Callable[[dict[str, Any]], Any]

_handlers: dict[str, Handler] = {}


def register_handler(message_type: str, fn: Handler | None = None, *, replace: bool = True) -> Any:
    """Register ``fn`` for ``message_type``; without ``fn``, return a decorator.

    ``replace=False`` keeps a handler that is already registered: Celery tasks use it so
    that an explicit registration by the owning app always wins over the default.
    """
    if not message_type:
        raise ValueError("message_type must be a non-empty string")

    def decorator(func: Handler) -> Handler:
        if replace or message_type not in _handlers:
            _handlers[message_type] = func
        message_type_series_declare(message_type)
        return func

    return decorator(fn) if fn is not None else decorator


def unregister_handler(message_type: str) -> None:
    """Forget the handler for ``message_type`` (tests, and apps that unload a type)."""
    _handlers.pop(message_type, None)


_task_modules_loaded = False


def _load_task_modules() -> None:
    # Celery tasks register their replay handler when bound to the app, which a web
    # process (an operator replaying from the admin) may not have done yet.
    global _task_modules_loaded
    from celery import current_app

    current_app.loader.import_default_modules()
    current_app.finalize(auto=True)
    _task_modules_loaded = True


def get_handler(message_type: str) -> Handler:
    """The handler for ``message_type``; ``NoHandlerRegistered`` when there is none."""
    if message_type not in _handlers and not _task_modules_loaded:
        _load_task_modules()
    try:
        return _handlers[message_type]
    except KeyError:
        raise NoHandlerRegistered(message_type) from None


def registered_message_types() -> list[str]:
    return sorted(_handlers)
