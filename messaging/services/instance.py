"""What Green API tells us about the instance itself: ``stateInstanceChanged`` and ``quotaExceeded``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from messaging.clients.green_api import get_green_api_client
from messaging.models import InstanceEventKind, InstanceStateEvent, WebhookEvent, WebhookType
from reliability.redaction import redact_text


def instance_event_record(*, event: WebhookEvent) -> InstanceStateEvent:
    """One ``InstanceStateEvent`` per stored event (a replay finds the first)."""
    body: dict[str, Any] = event.payload if isinstance(event.payload, dict) else {}
    if event.type_webhook == WebhookType.QUOTA_EXCEEDED:
        quota = body.get("quotaData")
        detail = quota if isinstance(quota, dict) else {}
        status = detail.get("status")
        kind, state = InstanceEventKind.QUOTA_EXCEEDED, status if isinstance(status, str) else ""
    else:
        value = body.get("stateInstance")
        kind, state, detail = InstanceEventKind.STATE_CHANGED, value if isinstance(value, str) else "", {}
    record, _ = InstanceStateEvent.objects.get_or_create(
        event=event,
        defaults={
            "kind": kind,
            "state": state[:64],
            "detail": detail,
            "occurred_at": event.occurred_at or event.received_at,
        },
    )
    return record


# --- the live state, for the health check ---------------------------------------------

# getStateInstance is rate limited (about 1 request/s per instance): every process asks
# through one gate in the shared cache, and reads what the last asker found otherwise.
STATE_GATE_KEY = "messaging:green-api:state-gate"
STATE_KEY = "messaging:green-api:state"
STATE_MIN_INTERVAL = 1
_STATE_KEEP_SECONDS = 300


def green_api_state_read() -> dict[str, Any]:
    """``{"state", "checked_at"}`` from getStateInstance, at most about once a second overall.

    A caller that finds the gate closed gets the last answer any process stored (an
    error is stored as ``{"error"}`` and raised again as ``RuntimeError``). Without a
    working cache every call asks Green API, still bounded by the health report's own cache.
    """
    try:
        open_gate = cache.add(STATE_GATE_KEY, 1, timeout=STATE_MIN_INTERVAL)
        last = None if open_gate else cache.get(STATE_KEY)
    except Exception:  # noqa: BLE001 - the cache is its own health check; this one is about Green API
        open_gate, last = True, None
    if last is None:
        last = _state_ask()
        try:
            cache.set(STATE_KEY, last, timeout=_STATE_KEEP_SECONDS)
        except Exception:  # noqa: BLE001
            pass
    if "error" in last:
        raise RuntimeError(last["error"])
    return last


def _state_ask() -> dict[str, Any]:
    checked_at = timezone.now().isoformat(timespec="seconds")
    try:
        with get_green_api_client() as client:
            state = client.get_state_instance()
    except Exception as exc:  # noqa: BLE001 - reported by the health check, redacted
        return {"error": redact_text(f"{type(exc).__name__}: {exc}")[:500], "checked_at": checked_at}
    return {"state": state, "checked_at": checked_at}


# --- pointing the instance at us (green_api_setup) -----------------------------------

# The webhook switches this service needs: messages in, delivery statuses, echoes of our
# own sends (they settle unknown outcomes) and instance state changes.
WEBHOOK_SWITCHES = ("incomingWebhook", "outgoingWebhook", "outgoingAPIMessageWebhook", "stateWebhook")
_SECRET_KEYS = ("webhookUrlToken",)


@dataclass(frozen=True)
class SettingsChanges:
    """What setSettings must change: ``values`` to send, ``before`` what getSettings said."""

    values: dict[str, Any]
    before: dict[str, Any]

    def describe(self) -> list[str]:
        """One line per change; secret values are never shown."""
        lines = []
        for key, new in self.values.items():
            if key in _SECRET_KEYS:
                lines.append(f"{key}: will be changed (value not shown)")
            else:
                lines.append(f"{key}: {self.before.get(key)!r} -> {new!r}")
        return lines


def green_api_settings_changes(*, current: dict[str, Any], webhook_url: str) -> SettingsChanges:
    """The settings that differ from what this service needs (webhook URL and token, switches on)."""
    desired: dict[str, Any] = {"webhookUrl": webhook_url, "webhookUrlToken": settings.GREEN_API_WEBHOOK_TOKEN}
    desired.update(dict.fromkeys(WEBHOOK_SWITCHES, "yes"))
    current = current if isinstance(current, dict) else {}
    changed = {key: value for key, value in desired.items() if current.get(key) != value}
    return SettingsChanges(values=changed, before={key: current.get(key) for key in changed})
