"""Green API (WhatsApp HTTP gateway) client: the calls this service makes, each through
the ``green_api`` breaker and bounded retries, with Green API's answers mapped onto
``messaging.clients.errors``.

Seed entry point, both forms::

    with get_green_api_client() as client:
        id_message = client.send_message("79001234567", "Your order has shipped")

    async with get_green_api_client() as client:           # the same calls, awaited;
        id_message = await client.send_message(phone, text)  # they run in a worker thread

URLs are ``{GREEN_API_URL}/waInstance{id}/{method}/{token}``: the token is a path segment,
so no URL is ever put into an error or a log line (the call is named instead).

Retries: ``sendMessage`` is retried only when the request surely did not leave (connection
refused, connect timeout) or Green API answered with a retryable error (429, 499, 5xx but
504). Once the request may have been read (read timeout, reset, a broken or unreadable
answer, 504) it raises ``SendOutcomeUnknown`` at once. The other calls are reads or
idempotent writes and are retried on any transient error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from asgiref.sync import sync_to_async
from django.conf import settings

from messaging.clients.config import required_setting
from messaging.clients.errors import GreenApiQuotaExceeded, GreenApiRejected, InvalidRequest, InvalidResponse
from messaging.clients.http import (
    Reply,
    ServiceClient,
    error_description,
    parse_json,
    process_session,
    raise_for_retryable_status,
)
from messaging.clients.validation import chat_id_normalize, message_id_validate, message_text_validate

T = TypeVar("T")

SERVICE = "green_api"
QUOTA_STATUS = 466
MAX_ANSWER_BYTES = 4 * 1024 * 1024  # lastOutgoingMessages over many minutes can be long
MAX_JOURNAL_MINUTES = 1440
RECEIVE_TIMEOUT_RANGE = (5, 60)  # receiveNotification's documented bounds, in seconds


class GreenApiClient(ServiceClient):
    """One Green API instance. Usable as ``with`` (itself) and ``async with`` (an
    ``AsyncGreenApiClient`` over it); without ``session`` it makes and closes its own."""

    service = SERVICE
    max_bytes = MAX_ANSWER_BYTES

    def __init__(
        self,
        *,
        api_url: str,
        id_instance: str,
        token: str,
        connect_timeout: float,
        read_timeout: float,
        session: requests.Session | None = None,
        breaker: Any = None,
        retry: Any = None,
    ) -> None:
        super().__init__(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            secrets=(token,),
            session=session,
            breaker=breaker,
            retry=retry,
        )
        self.api_url = api_url.rstrip("/")
        self.id_instance = str(id_instance)
        self._token = token

    def __repr__(self) -> str:
        return f"<GreenApiClient {self.api_url} instance {self.id_instance}>"

    def __enter__(self) -> GreenApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> AsyncGreenApiClient:
        return AsyncGreenApiClient(self)

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def _url(self, method: str, *tail: str) -> str:
        return "/".join((f"{self.api_url}/waInstance{self.id_instance}", method, self._token, *tail))

    # --- calls ------------------------------------------------------------------------

    def send_message(self, chat_id: str, message: str, *, quoted_message_id: str | None = None) -> str:
        """Send a text; returns Green API's ``idMessage``. ``chat_id`` may be a phone number
        (``+7 900 123-45-67``) or a chatId; bad input is ``InvalidRequest`` before any call."""
        body: dict[str, Any] = {"chatId": chat_id_normalize(chat_id), "message": message_text_validate(message)}
        if quoted_message_id is not None:
            body["quotedMessageId"] = message_id_validate(quoted_message_id)
        call = "Green API sendMessage"
        return self._call(
            "POST",
            self._url("sendMessage"),
            call=call,
            judge=_judged(call, _id_message_of, self._secrets),
            ambiguous_once_sent=True,
            json_body=body,
        )

    def get_state_instance(self) -> str | None:
        """``authorized``, ``notAuthorized``, ``blocked``, ``starting``, ...; None for the
        ``null`` body of an instance being created. Green API allows about one call a second."""
        call = "Green API getStateInstance"
        return self._call(
            "GET", self._url("getStateInstance"), call=call, judge=_judged(call, _state_of, self._secrets)
        )

    def get_settings(self) -> dict[str, Any]:
        call = "Green API getSettings"
        return self._call("GET", self._url("getSettings"), call=call, judge=_judged(call, _object_of, self._secrets))

    def set_settings(self, values: dict[str, Any]) -> bool:
        """Change instance settings (``webhookUrl``, ``webhookUrlToken``, webhook switches);
        True when Green API saved them (they may take up to 5 minutes to apply)."""
        if not isinstance(values, dict) or not values or not all(isinstance(key, str) for key in values):
            raise InvalidRequest("values", "must be a non-empty object with string keys")
        try:
            json.dumps(values, allow_nan=False)
        except (TypeError, ValueError):
            raise InvalidRequest("values", "must be JSON (no NaN, no objects of other types)") from None
        call = "Green API setSettings"
        return self._call(
            "POST",
            self._url("setSettings"),
            call=call,
            judge=_judged(call, _flag_of("saveSettings"), self._secrets),
            json_body=values,
        )

    def last_outgoing_messages(self, *, minutes: int = 5) -> list[dict[str, Any]]:
        """Messages sent in the last ``minutes`` (1-1440). A message can take up to two
        minutes to appear here; the method is rate-limited."""
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_JOURNAL_MINUTES:
            raise InvalidRequest("minutes", f"must be a whole number from 1 to {MAX_JOURNAL_MINUTES}")
        call = "Green API lastOutgoingMessages"
        return self._call(
            "GET",
            self._url("lastOutgoingMessages"),
            call=call,
            judge=_judged(call, _journal_of, self._secrets),
            params={"minutes": minutes},
        )

    def receive_notification(self, *, receive_timeout: int = 5) -> dict[str, Any] | None:
        """The oldest queued notification, ``{"receiptId": int, "body": {...}}``, or None when
        none arrived within ``receive_timeout`` seconds (5-60; the read waits that much longer).

        An empty poll lasts ``receive_timeout``: keep it below the ``green_api`` breaker's
        ``timeout`` (10 s in development, 30 s in production), or idle polls count as slow
        failures and open the breaker."""
        low, high = RECEIVE_TIMEOUT_RANGE
        if (
            isinstance(receive_timeout, bool)
            or not isinstance(receive_timeout, int)
            or not low <= receive_timeout <= high
        ):
            raise InvalidRequest("receive_timeout", f"must be a whole number of seconds from {low} to {high}")
        call = "Green API receiveNotification"
        connect, read = self.timeout
        return self._call(
            "GET",
            self._url("receiveNotification"),
            call=call,
            judge=_judged(call, _notification_of, self._secrets),
            params={"receiveTimeout": receive_timeout},
            timeout=(connect, read + receive_timeout),
        )

    def delete_notification(self, receipt_id: int) -> bool:
        """Remove a received notification from the queue (do it only once the event is stored)."""
        if isinstance(receipt_id, bool) or not isinstance(receipt_id, int) or receipt_id < 0:
            raise InvalidRequest("receipt_id", "must be a whole number of at least 0")
        call = "Green API deleteNotification"
        return self._call(
            "DELETE",
            self._url("deleteNotification", str(receipt_id)),
            call=call,
            judge=_judged(call, _flag_of("result"), self._secrets),
        )


class AsyncGreenApiClient:
    """The same calls as ``GreenApiClient``, awaitable. Each runs the synchronous client in
    Django's thread for synchronous code (``sync_to_async``), so breakers that keep state
    in the database work, and the event loop never waits on a socket."""

    def __init__(self, client: GreenApiClient) -> None:
        self.sync = client

    def __repr__(self) -> str:
        return f"<AsyncGreenApiClient over {self.sync!r}>"

    async def send_message(self, chat_id: str, message: str, *, quoted_message_id: str | None = None) -> str:
        return await sync_to_async(self.sync.send_message)(chat_id, message, quoted_message_id=quoted_message_id)

    async def get_state_instance(self) -> str | None:
        return await sync_to_async(self.sync.get_state_instance)()

    async def get_settings(self) -> dict[str, Any]:
        return await sync_to_async(self.sync.get_settings)()

    async def set_settings(self, values: dict[str, Any]) -> bool:
        return await sync_to_async(self.sync.set_settings)(values)

    async def last_outgoing_messages(self, *, minutes: int = 5) -> list[dict[str, Any]]:
        return await sync_to_async(self.sync.last_outgoing_messages)(minutes=minutes)

    async def receive_notification(self, *, receive_timeout: int = 5) -> dict[str, Any] | None:
        return await sync_to_async(self.sync.receive_notification)(receive_timeout=receive_timeout)

    async def delete_notification(self, receipt_id: int) -> bool:
        return await sync_to_async(self.sync.delete_notification)(receipt_id)


def get_green_api_client() -> GreenApiClient:
    """A client for the instance in settings, on this process's shared session (so ``with``
    and ``async with`` are cheap and closing the client leaves the pool open).
    ImproperlyConfigured when a Green API setting is missing or malformed."""
    return GreenApiClient(
        api_url=required_setting("GREEN_API_URL"),
        id_instance=required_setting("GREEN_API_ID_INSTANCE"),
        token=required_setting("GREEN_API_TOKEN"),
        connect_timeout=settings.GREEN_API_CONNECT_TIMEOUT,
        read_timeout=settings.GREEN_API_READ_TIMEOUT,
        session=process_session(SERVICE),
    )


# --- what Green API answers ----------------------------------------------------------


def raise_for_status(reply: Reply, *, call: str, secrets: tuple[str, ...] = ()) -> None:
    """Green API's status codes onto our errors (2xx returns)."""
    if 200 <= reply.status <= 299:
        return
    raise_for_retryable_status(reply, call=call)
    description = error_description(reply.body, secrets)
    if reply.status == QUOTA_STATUS:
        raise GreenApiQuotaExceeded(reply.status, description, call=call)
    if 300 <= reply.status <= 499:
        # 3xx too: redirects are not followed (the token is in the URL), so the setting is wrong.
        raise GreenApiRejected(reply.status, description, call=call)
    raise InvalidResponse(f"{call}: unexpected HTTP status {reply.status}")


def _judged(call: str, read: Callable[[Any, str], T], secrets: tuple[str, ...]) -> Callable[[Reply], T]:
    def judge(reply: Reply) -> T:
        raise_for_status(reply, call=call, secrets=secrets)
        return read(parse_json(reply.body, call=call), call)

    return judge


def _id_message_of(value: Any, call: str) -> str:
    found = value.get("idMessage") if isinstance(value, dict) else None
    try:
        return message_id_validate(found, field="idMessage")
    except InvalidRequest:
        raise InvalidResponse(f"{call}: the answer has no valid idMessage") from None


def _state_of(value: Any, call: str) -> str | None:
    if value is None:
        return None
    state = value.get("stateInstance") if isinstance(value, dict) else None
    if not isinstance(state, str) or not 0 < len(state) <= 64:
        raise InvalidResponse(f"{call}: the answer has no stateInstance")
    return state


def _object_of(value: Any, call: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidResponse(f"{call}: the answer is not a JSON object")
    return value


def _flag_of(key: str) -> Callable[[Any, str], bool]:
    def read(value: Any, call: str) -> bool:
        flag = value.get(key) if isinstance(value, dict) else None
        if not isinstance(flag, bool):
            raise InvalidResponse(f"{call}: the answer has no boolean {key}")
        return flag

    return read


def _journal_of(value: Any, call: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise InvalidResponse(f"{call}: the answer is not a list of messages")
    return value


def _notification_of(value: Any, call: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or isinstance(value.get("receiptId"), bool)
        or not isinstance(value.get("receiptId"), int)
        or not isinstance(value.get("body"), dict)
    ):
        raise InvalidResponse(f"{call}: the answer is not a notification (receiptId and body)")
    return value
