"""Handlers and tasks the DLQ tests load into real Celery workers (``celery worker -I``).

They count their work in Redis (``REDIS_URL``), so the test process can see what each
worker process did.
"""

from __future__ import annotations

import functools
import os
import time

import redis
from celery import shared_task
from celery.signals import task_postrun, worker_ready
from django.conf import settings

from reliability.dlq.registry import register_handler
from reliability.errors import PermanentError, TransientError
from reliability.tasks import ReliableTask

COUNTED_TYPE = "dlq_test_counted"
SLOW_TYPE = "dlq_test_slow"
HANDLED_KEY = "dlq-test:handled"
PIDS_KEY = "dlq-test:pids"
FINISHED_KEY = "dlq-test:finished"
GREEN_API_TOKEN = "d75b3a66374942c5b3c019c698abc2067e151558acbd412345"
GREEN_API_URL = f"https://api.green-api.com/waInstance1101000001/sendMessage/{GREEN_API_TOKEN}"


@functools.cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@worker_ready.connect
def _announce_ready(sender=None, **_) -> None:
    # The test waits for this key before sending work, so every worker competes from the start.
    _redis().set(f"dlq-test:ready:{os.environ['DLQ_TEST_WORKER']}", os.getpid())


@task_postrun.connect
def _record_finished(task_id=None, state=None, **_) -> None:
    # A task that ended by itself, with its state; one killed by its hard time limit never gets here.
    if "DLQ_TEST_WORKER" in os.environ:
        _redis().hset(FINISHED_KEY, task_id, state)


@register_handler(SLOW_TYPE)
def take_as_long_as_told(payload: dict) -> None:
    """A slow remote call: ``payload["seconds"]`` long, then counted (an interrupted one is not)."""
    time.sleep(payload["seconds"])
    _redis().hincrby(HANDLED_KEY, str(payload["n"]), 1)


@register_handler(COUNTED_TYPE)
def count_handling(payload: dict) -> None:
    """Counts each handling per letter and per worker process; duplicates show as counts > 1.

    The short wait stands in for a network call and keeps both workers busy at once.
    """
    time.sleep(0.002)
    client = _redis()
    client.hincrby(HANDLED_KEY, str(payload["n"]), 1)
    client.hincrby(PIDS_KEY, str(os.getpid()), 1)


@shared_task(base=ReliableTask, bind=True, name="tests.dlq.slow_until_redelivered", acks_late=True)
def slow_until_redelivered(self, key: str) -> str:
    """First delivery: announce itself and hang (to be SIGKILLed); a redelivery finishes."""
    client = _redis()
    if client.set(f"{key}:started", os.getpid(), nx=True):
        time.sleep(120)
    client.set(f"{key}:done", os.getpid())
    return "done"


@shared_task(base=ReliableTask, name="tests.dlq.fail_after_redelivery")
def fail_after_redelivery(key: str) -> None:
    """First delivery: announce the pool process and hang; the redelivery fails for good."""
    client = _redis()
    if client.set(f"{key}:started", os.getpid(), nx=True):
        time.sleep(120)
    raise PermanentError(f"{key} cannot be sent: the chat no longer exists")


@shared_task(base=ReliableTask, bind=True, name="tests.dlq.send_with_token_in_url", max_retries=1)
def send_with_token_in_url(self, chat_id: str, token: str) -> None:
    """Fails like a Green API client whose error text holds the instance token in the URL."""
    try:
        raise TransientError(f"500 Server Error: Internal Server Error for url: {GREEN_API_URL}")
    except TransientError as exc:
        raise self.retry(exc=exc, countdown=0) from exc


class WhatsAppTask(ReliableTask):
    dlq_message_type = "dlq_test_whatsapp"
    dlq_max_retries = 3


@shared_task(base=WhatsAppTask, name="tests.dlq.validate_chat")
def validate_chat(chat_id: str) -> str:
    """Fails for good on a chat id without ``@c.us``; replays succeed once it is fixed."""
    if not chat_id.endswith("@c.us"):
        raise PermanentError(f"invalid chat id {chat_id!r}")
    return chat_id


@shared_task(base=WhatsAppTask, name="tests.dlq.validate_phone")
def validate_phone(phone: str) -> str:
    """Shares ``validate_chat``'s message type; fails for good on a phone with anything but digits."""
    if not phone.isdigit():
        raise PermanentError(f"invalid phone {phone!r}")
    return phone
