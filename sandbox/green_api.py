"""A Green API stand-in: the methods this service calls, its webhooks, and their failures.

URLs are Green API's: ``/waInstance{idInstance}/{method}/{apiTokenInstance}``. A wrong
instance id answers 403, a wrong token 401, an unknown method or HTTP verb 404. Error
bodies follow Green API's shape ``{"statusCode", "timestamp", "path", "message"}``, and,
like the real service, ``path`` echoes the token: clients must redact what they keep.

Methods: ``sendMessage`` (validated like Green API: ``chatId`` ``…@c.us`` / ``…@g.us`` /
``…@lid``, ``message`` 1..20000 characters, no unknown fields), ``getStateInstance``,
``getSettings`` / ``setSettings`` (applied at once, where Green API takes up to 5 minutes),
``lastOutgoingMessages`` (a journal in which a message appears ``journal_lag_ms`` after
it was accepted; Green API's can lag up to 2 minutes), ``receiveNotification`` /
``deleteNotification`` (the queue that fills when no ``webhookUrl`` is set).

After each accepted send: ``outgoingAPIMessageReceived`` (when ``outgoingAPIMessageWebhook``
is on), then ``outgoingMessageStatus`` sent, delivered, read after ``status_delays_ms``
(when ``outgoingWebhook`` is on; ``final_status`` stops earlier or fails instead). While
the instance is not ``authorized`` a send is accepted and held, as Green API queues it,
and goes out when the state returns to ``authorized``. ``quota_exceeded`` answers 466
and sends one ``quotaExceeded`` webhook.
"""

from __future__ import annotations

import hmac
import re
import threading
import time
from collections import Counter, deque
from datetime import UTC, datetime
from typing import Any

from sandbox import defaults, payloads, switches
from sandbox.server import Request, Response, StandIn, json_response
from sandbox.webhooks import WebhookSender, check_webhook_url

MAX_MESSAGE_LENGTH = 20_000
CHAT_ID = re.compile(r"[0-9]{5,20}@c\.us|[0-9]{5,20}(-[0-9]{5,12})?@g\.us|[0-9]{5,25}@lid")
STATES = ("authorized", "notAuthorized", "blocked", "starting", "yellowCard", "sleepMode", None)
FINAL_STATUSES = ("sent", "delivered", "read", "failed", "noAccount", "notInGroup", "yellowCard")
FAILURE_DESCRIPTIONS = {
    "failed": "sandbox: the message could not be sent to the WhatsApp server",
    "noAccount": "sandbox: the number is not registered in WhatsApp",
    "notInGroup": "sandbox: the instance is not a member of this group",
    "yellowCard": "sandbox: sending is suspended on this account for spam",
}
# Green API method -> HTTP verb. Method names match case-insensitively, as Green API's do.
METHODS = {
    "sendMessage": "POST",
    "getStateInstance": "GET",
    "getSettings": "GET",
    "setSettings": "POST",
    "lastOutgoingMessages": "GET",
    "receiveNotification": "GET",
    "deleteNotification": "DELETE",
}
_METHOD_NAMES = {name.lower(): name for name in METHODS}
_PATH = re.compile(r"/waInstance(?P<instance>[^/]*)/(?P<method>[^/]+)/(?P<token>[^/]*)(?:/(?P<extra>[^/]*))?/?")
SEND_FIELDS = ("chatId", "message", "quotedMessageId", "linkPreview", "typingTime")
SWITCH_SETTINGS = (
    "markIncomingMessagesReaded",
    "markIncomingMessagesReadedOnReply",
    "outgoingWebhook",
    "outgoingMessageWebhook",
    "outgoingAPIMessageWebhook",
    "incomingWebhook",
    "deviceWebhook",
    "stateWebhook",
    "keepOnlineStatus",
    "pollMessageWebhook",
    "incomingBlockWebhook",
    "incomingCallWebhook",
    "editedMessageWebhook",
    "deletedMessageWebhook",
)
# What a new sandbox instance has: the webhooks this service needs are on, so `make run`
# works before anyone runs green_api_setup (a real new instance has them all off).
DEFAULT_SETTINGS: dict[str, Any] = {
    "webhookUrl": "",
    "webhookUrlToken": "",
    "delaySendMessagesMilliseconds": 500,
    **{name: "no" for name in SWITCH_SETTINGS},
    "outgoingWebhook": "yes",
    "outgoingAPIMessageWebhook": "yes",
    "incomingWebhook": "yes",
    "stateWebhook": "yes",
    "incomingBlockWebhook": "yes",
}
# Deprecated fields getSettings still shows.
_READ_ONLY_SETTINGS = {"countryInstance": "", "typeAccount": "", "sharedSession": "no", "statusInstanceWebhook": "no"}


class GreenApiStandIn(StandIn):
    """Green API on 127.0.0.1 (see the module docstring for what it imitates).

    ``GreenApiStandIn(webhook_url=..., webhook_token=...).start()`` returns its port;
    point ``GREEN_API_URL`` at ``.url``. Switches (constructor keywords, ``control()``,
    ``POST /_sandbox/control``): the common faults of ``sandbox.server`` plus
    ``state_instance``, ``quota_exceeded``, ``journal_lag_ms``, ``status_delays_ms``
    (three delays: sent, delivered, read) and ``final_status``. For assertions:
    ``sent_count(chat_id, text)``, ``duplicates()``, ``journal()``, ``webhooks()``,
    ``webhooks_idle()``; ``incoming(chat_id, text)`` makes a customer write to us.
    """

    name = "green-api"
    switch_readers = {
        "state_instance": switches.choice(STATES),
        "quota_exceeded": switches.boolean,
        "journal_lag_ms": switches.integer(0, 600_000),
        "status_delays_ms": switches.integers(3, 0, 600_000),
        "final_status": switches.choice(FINAL_STATUSES),
    }
    switch_defaults = {
        "state_instance": "authorized",
        "quota_exceeded": False,
        "journal_lag_ms": 200,
        "status_delays_ms": (100, 250, 500),
        "final_status": "read",
    }

    def __init__(
        self,
        *,
        id_instance: str = defaults.ID_INSTANCE,
        token: str = defaults.INSTANCE_TOKEN,
        wid: str = defaults.WID,
        webhook_url: str = "",
        webhook_token: str = "",
        settings: dict[str, Any] | None = None,
        journal_size: int = 10_000,
        notification_queue_size: int = 10_000,
        max_tracked_texts: int = 100_000,
        webhook_retry_delays_s: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 4.0),
        webhook_timeout_s: float = 5.0,
        max_pending_webhooks: int = 20_000,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if not id_instance.isdigit():
            raise ValueError(f"id_instance must be digits: {id_instance!r}")
        self.id_instance = id_instance
        self._token = token
        self.wid = wid
        self._initial_settings = {**DEFAULT_SETTINGS, "webhookUrlToken": webhook_token}
        if webhook_url:
            self._initial_settings["webhookUrl"] = check_webhook_url(webhook_url)
        if settings:
            problem = _settings_problem(settings)
            if problem:
                raise ValueError(problem)
            self._initial_settings.update(settings)
        self._settings = dict(self._initial_settings)
        self._ids = payloads.MessageIds(length=20)
        self._incoming_ids = payloads.MessageIds(length=16)
        self._journal: deque[dict[str, Any]] = deque()
        self._journal_size = journal_size
        self._by_id: dict[str, dict[str, Any]] = {}
        self._sent: Counter[tuple[str, str]] = Counter()
        self._max_tracked = max_tracked_texts
        self._untracked = 0
        self._outcomes: Counter[str] = Counter()
        self._held: deque[str] = deque(maxlen=journal_size)
        self._notifications: deque[tuple[int, dict[str, Any]]] = deque(maxlen=notification_queue_size)
        self._receipts = 0
        self._queue_changed = threading.Condition(self._lock)
        self._quota_notified = False
        self._sender = WebhookSender(
            target=self._webhook_target,
            fallback=self._enqueue_notification,
            retry_delays_s=webhook_retry_delays_s,
            timeout_s=webhook_timeout_s,
            max_pending=max_pending_webhooks,
        )

    # --- for tests ---------------------------------------------------------------------

    def sent_count(self, chat_id: str, text: str) -> int:
        """How many times a message with this chat and text was accepted."""
        with self._lock:
            return self._sent[(chat_id, text)]

    def duplicates(self) -> int:
        """Accepted sends beyond the first of each (chat, text): 0 when nothing was sent twice."""
        with self._lock:
            return sum(count - 1 for count in self._sent.values())

    def journal(self) -> list[dict[str, Any]]:
        """Every accepted message, oldest first, visible in lastOutgoingMessages or not yet."""
        now = time.monotonic()
        with self._lock:
            return [_public(entry) | {"visible": entry["_visible_at"] <= now} for entry in self._journal]

    def webhooks(self) -> list[dict[str, Any]]:
        """The last webhook delivery attempts."""
        return self._sender.deliveries()

    def webhooks_idle(self) -> bool:
        """True when no webhook is waiting or being sent."""
        return self._sender.idle()

    def incoming(self, chat_id: str, text: str, *, sender_name: str = "Customer") -> dict[str, Any]:
        """A customer writes: an ``incomingMessageReceived`` webhook (or notification) follows."""
        if not CHAT_ID.fullmatch(chat_id) or not isinstance(text, str) or not text:
            raise switches.SwitchError("incoming needs a chatId like 79001234567@c.us and a non-empty text")
        body = payloads.incoming_message(
            id_instance=self.id_instance,
            wid=self.wid,
            id_message=self._incoming_ids.next(),
            chat_id=chat_id,
            sender_name=sender_name,
            text=text,
        )
        self._sender.schedule(0, lambda: body if self._setting_on("incomingWebhook") else None)
        return body

    # --- records -----------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        with self._lock:
            settings = dict(self._settings)
        if settings["webhookUrlToken"]:
            settings["webhookUrlToken"] = "***"
        return {**super().state(), "id_instance": self.id_instance, "settings": settings}

    def stats(self) -> dict[str, Any]:
        with self._lock:
            sent = [{"chatId": chat, "message": text, "count": n} for (chat, text), n in self._sent.items()]
            extra = {
                "sends": dict(self._outcomes),
                "sent": sent,
                "duplicates": sum(item["count"] - 1 for item in sent),
                "untracked_texts": self._untracked,
                "journal": len(self._journal),
                "held": len(self._held),
                "notifications_queued": len(self._notifications),
            }
        return {**super().stats(), **extra, "webhooks": self._sender.stats()}

    def control_routes(self) -> dict[tuple[str, str], Any]:
        return {
            ("GET", "journal"): lambda _: {"messages": self.journal()},
            ("GET", "webhooks"): lambda _: {"deliveries": self.webhooks(), **self._sender.stats()},
            ("GET", "notifications"): lambda _: {"notifications": self._queued()},
            ("POST", "incoming"): self._incoming_from_http,
        }

    def _incoming_from_http(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise switches.SwitchError('incoming needs {"chatId": ..., "text": ..., "senderName": ...}')
        sender = payload.get("senderName", "Customer")
        if not isinstance(sender, str):
            raise switches.SwitchError("senderName must be a string")
        return self.incoming(payload.get("chatId", ""), payload.get("text", ""), sender_name=sender)

    def _queued(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"receiptId": receipt, "body": body} for receipt, body in self._notifications]

    # --- the API -----------------------------------------------------------------------

    def endpoint_of(self, request: Request) -> str | None:
        match = _PATH.fullmatch(request.path)
        return _METHOD_NAMES.get(match["method"].lower()) if match else None

    def redact(self, path: str) -> str:
        match = _PATH.fullmatch(path)
        if not match:
            return path
        return path[: match.start("token")] + "***" + path[match.end("token") :]

    def error_response(self, status: int, message: str, request: Request | None) -> Response:
        return json_response(
            status,
            {
                "statusCode": status,
                "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "path": request.path if request else "",
                "message": message,
            },
        )

    def handle_api(self, request: Request) -> Response:
        match = _PATH.fullmatch(request.path)
        method = _METHOD_NAMES.get(match["method"].lower()) if match else None
        if match is None or method is None:
            return self.error_response(404, "Not Found", request)
        if match["instance"] != self.id_instance:
            return self.error_response(403, "Forbidden", request)
        if not hmac.compare_digest(match["token"].encode(), self._token.encode()):
            return self.error_response(401, "Unauthorized", request)
        if request.method != METHODS[method]:
            return self.error_response(404, f"Not Found: {method} takes {METHODS[method]}", request)
        if method == "deleteNotification":
            return self._delete_notification(request, match["extra"])
        if match["extra"] is not None:
            return self.error_response(404, "Not Found", request)
        handler = {
            "sendMessage": self._send_message,
            "getStateInstance": self._get_state_instance,
            "getSettings": self._get_settings,
            "setSettings": self._set_settings,
            "lastOutgoingMessages": self._last_outgoing_messages,
            "receiveNotification": self._receive_notification,
        }[method]
        return handler(request)

    def _invalid(self, request: Request, detail: str) -> Response:
        return self.error_response(400, f"Validation failed. Details: {detail}", request)

    def _json_object(self, request: Request) -> dict[str, Any] | Response:
        try:
            body = request.json()
        except switches.SwitchError as exc:
            return self.error_response(400, str(exc), request)
        if not isinstance(body, dict):
            return self._invalid(request, "'value' must be of type object")
        return body

    def _send_message(self, request: Request) -> Response:
        body = self._json_object(request)
        problem = "" if isinstance(body, Response) else _send_problem(body)
        if isinstance(body, Response) or problem:
            with self._lock:
                self._outcomes["invalid"] += 1
            return body if isinstance(body, Response) else self._invalid(request, problem)
        chat_id, text = body["chatId"], body["message"]
        with self._lock:
            if self._switches["quota_exceeded"]:
                self._outcomes["quota_exceeded"] += 1
                notify, self._quota_notified = not self._quota_notified, True
                used = len({chat for chat, _ in self._sent})
                calls = self._outcomes["quota_exceeded"]
            else:
                return json_response(200, {"idMessage": self._accept(chat_id, text)})
        if notify:
            self._sender.schedule(
                0, lambda: payloads.quota_exceeded(id_instance=self.id_instance, wid=self.wid, used=used)
            )
        return json_response(
            466,
            {
                "invokeStatus": {
                    "method": "sendmessage",
                    "used": calls,
                    "total": 0,
                    "status": "QUOTE_ALLOWED",
                    "description": "",
                },
                "correspondentsStatus": payloads.quota_data(used=used) | {"status": "QUOTE_EXCEEDED"},
            },
        )

    def _accept(self, chat_id: str, text: str) -> str:
        """Journal, count and schedule the webhooks of an accepted send (under the lock)."""
        id_message = self._ids.next()
        entry = {
            "type": "outgoing",
            "idMessage": id_message,
            "timestamp": int(time.time()),
            "statusMessage": "pending",
            "typeMessage": "textMessage",
            "chatId": chat_id,
            "textMessage": text,
            "sendByApi": True,
            "_visible_at": time.monotonic() + self._switches["journal_lag_ms"] / 1000,
        }
        if len(self._journal) >= self._journal_size:
            self._by_id.pop(self._journal.popleft()["idMessage"], None)
        self._journal.append(entry)
        self._by_id[id_message] = entry
        key = (chat_id, text)
        if key in self._sent or len(self._sent) < self._max_tracked:
            self._sent[key] += 1
        else:
            self._untracked += 1
        self._outcomes["accepted"] += 1
        if self._switches["state_instance"] == "authorized":
            self._release(id_message)
        else:
            self._held.append(id_message)
        return id_message

    def _release(self, id_message: str) -> None:
        """The instance "sends" a message: its webhooks and journal status follow."""
        final = self._switches["final_status"]
        if final in ("sent", "delivered", "read"):
            steps = ("sent", "delivered", "read")[: ("sent", "delivered", "read").index(final) + 1]
        else:
            steps = (final,)
        self._sender.schedule(0, lambda: self._api_message_body(id_message))
        for status, delay_ms in zip(steps, self._switches["status_delays_ms"], strict=False):
            self._sender.schedule(delay_ms / 1000, lambda status=status: self._status_body(id_message, status))

    def _api_message_body(self, id_message: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._by_id.get(id_message)
            if entry is None or not self._setting_on("outgoingAPIMessageWebhook"):
                return None
            return payloads.outgoing_api_message(
                id_instance=self.id_instance,
                wid=self.wid,
                id_message=id_message,
                chat_id=entry["chatId"],
                text=entry["textMessage"],
            )

    def _status_body(self, id_message: str, status: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._by_id.get(id_message)
            if entry is None:
                return None
            entry["statusMessage"] = status
            description = FAILURE_DESCRIPTIONS.get(status, "")
            # Green API sends `failed` even with the status webhooks off.
            if not self._setting_on("outgoingWebhook") and status != "failed":
                return None
            return payloads.outgoing_status(
                id_instance=self.id_instance,
                wid=self.wid,
                id_message=id_message,
                chat_id=entry["chatId"],
                status=status,
                description=description,
            )

    def _get_state_instance(self, request: Request) -> Response:
        with self._lock:
            state = self._switches["state_instance"]
        if state is None:
            return Response(200, b"null")  # as while an instance is being created
        return json_response(200, {"stateInstance": state})

    def _get_settings(self, request: Request) -> Response:
        with self._lock:
            return json_response(200, {"wid": self.wid, **_READ_ONLY_SETTINGS, **self._settings})

    def _set_settings(self, request: Request) -> Response:
        body = self._json_object(request)
        if isinstance(body, Response):
            return body
        problem = _settings_problem(body)
        if problem:
            return self._invalid(request, problem)
        with self._lock:
            self._settings.update(body)
        return json_response(200, {"saveSettings": True})

    def _last_outgoing_messages(self, request: Request) -> Response:
        minutes = _query_int(request.query.get("minutes", "1440"), low=1, high=1_000_000)
        if minutes is None:
            return self._invalid(request, "'minutes' must be a positive number")
        now, oldest = time.monotonic(), time.time() - minutes * 60
        with self._lock:
            visible = [
                _public(entry)
                for entry in reversed(self._journal)
                if entry["_visible_at"] <= now and entry["timestamp"] >= oldest
            ]
        return json_response(200, visible)

    def _receive_notification(self, request: Request) -> Response:
        timeout = _query_int(request.query.get("receiveTimeout", "5"), low=5, high=60)
        if timeout is None:
            return self._invalid(request, "'receiveTimeout' must be a number from 5 to 60")
        deadline = time.monotonic() + timeout
        with self._queue_changed:
            while not self._notifications and self.wait(0):
                left = deadline - time.monotonic()
                if left <= 0:
                    return Response(200, b"null")
                self._queue_changed.wait(min(left, 0.5))
            if not self._notifications:
                return Response(200, b"null")
            receipt, body = self._notifications[0]
        return json_response(200, {"receiptId": receipt, "body": body})

    def _delete_notification(self, request: Request, receipt: str | None) -> Response:
        number = _query_int(receipt or "", low=0, high=2**63)
        if number is None:
            return self._invalid(request, "'receiptId' must be a number")
        with self._lock:
            for index, (queued, _) in enumerate(self._notifications):
                if queued == number:
                    del self._notifications[index]
                    return json_response(200, {"result": True, "reason": ""})
        return json_response(200, {"result": False, "reason": "notification not found"})

    # --- webhooks ----------------------------------------------------------------------

    def _setting_on(self, name: str) -> bool:
        with self._lock:
            return self._settings.get(name) == "yes"

    def _webhook_target(self) -> tuple[str, str] | None:
        with self._lock:
            url = self._settings["webhookUrl"]
            return (url, self._settings["webhookUrlToken"]) if url else None

    def _enqueue_notification(self, body: dict[str, Any]) -> None:
        with self._queue_changed:
            self._receipts += 1
            self._notifications.append((self._receipts, body))
            self._queue_changed.notify_all()

    # --- lifecycle hooks ---------------------------------------------------------------

    def switched(self, before: dict[str, Any]) -> None:
        with self._lock:
            state = self._switches["state_instance"]
            if not self._switches["quota_exceeded"]:
                self._quota_notified = False
            if state == before["state_instance"]:
                return
            if state == "authorized":
                while self._held:
                    self._release(self._held.popleft())
        self._sender.schedule(
            0,
            lambda: (
                payloads.state_changed(id_instance=self.id_instance, wid=self.wid, state=state)
                if self._setting_on("stateWebhook")
                else None
            ),
        )

    def started(self) -> None:
        self._sender.start()

    def stopped(self) -> None:
        self._sender.stop()
        with self._queue_changed:
            self._queue_changed.notify_all()

    def cleared(self) -> None:
        self._journal.clear()
        self._by_id.clear()
        self._sent.clear()
        self._untracked = 0
        self._outcomes.clear()
        self._held.clear()
        self._notifications.clear()
        self._quota_notified = False
        self._settings = dict(self._initial_settings)
        self._sender.clear()


def _public(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if not key.startswith("_")}


def _query_int(raw: str, *, low: int, high: int) -> int | None:
    if not raw.isascii() or not raw.isdigit():
        return None
    number = int(raw)
    return number if low <= number <= high else None


def _send_problem(body: dict[str, Any]) -> str:
    """Green API's validation message for a sendMessage body, or "" when it is valid."""
    chat_id = body.get("chatId")
    if "chatId" not in body:
        return "'chatId' is required"
    if not isinstance(chat_id, str):
        return "'chatId' must be a string"
    if not chat_id:
        return "'chatId' is not allowed to be empty"
    if not CHAT_ID.fullmatch(chat_id):
        return "'chatId' must be one of the next formats: 'phone_number@c.us', 'chat_id@lid' or 'group_id@g.us'"
    message = body.get("message")
    if "message" not in body:
        return "'message' is required"
    if not isinstance(message, str):
        return "'message' must be a string"
    if not message:
        return "'message' is not allowed to be empty"
    if len(message) > MAX_MESSAGE_LENGTH:
        return f"'message' length must be less than or equal to {MAX_MESSAGE_LENGTH} characters long"
    if "quotedMessageId" in body and not isinstance(body["quotedMessageId"], str):
        return "'quotedMessageId' must be a string"
    if "linkPreview" in body and not isinstance(body["linkPreview"], bool):
        return "'linkPreview' must be a boolean"
    typing = body.get("typingTime")
    if "typingTime" in body and (
        isinstance(typing, bool) or not isinstance(typing, int) or not 1000 <= typing <= 20000
    ):
        return "'typingTime' must be a number from 1000 to 20000"
    unknown = [name for name in body if name not in SEND_FIELDS]
    return f"'{unknown[0]}' is not allowed" if unknown else ""


def _settings_problem(body: dict[str, Any]) -> str:
    """Green API's validation message for a setSettings body, or "" when it is valid."""
    if not body:
        return "at least one setting must be given"
    for name, value in body.items():
        if name == "webhookUrl":
            if not isinstance(value, str):
                return "'webhookUrl' must be a string"
            if value:
                try:
                    check_webhook_url(value)
                except ValueError as exc:
                    return f"'webhookUrl' {exc}"
        elif name == "webhookUrlToken":
            if not isinstance(value, str):
                return "'webhookUrlToken' must be a string"
        elif name == "delaySendMessagesMilliseconds":
            if isinstance(value, bool) or not isinstance(value, int) or not 500 <= value <= 600_000:
                return "'delaySendMessagesMilliseconds' must be a number from 500 to 600000"
        elif name in SWITCH_SETTINGS:
            if value not in ("yes", "no"):
                return f"'{name}' must be one of [yes, no]"
        else:
            return f"'{name}' is not allowed"
    return ""
