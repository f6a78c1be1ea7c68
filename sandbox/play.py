"""Play a sample conversation into our Green API webhook, step by step.

Two customers write (one unhappy, one pleased) in Green API's ``incomingMessageReceived``
shape with the sandbox instance id; each step prints the webhook's HTTP answer. Then,
when the Green API stand-in's control port answers, it watches the replies our service
sends through the stand-in until they are delivered and read.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from sandbox import defaults, payloads
from sandbox.client import Unreachable, call
from sandbox.webhooks import check_webhook_url

CONVERSATION = (
    ("79005550101@c.us", "Anna", "Hello! My order #1042 never arrived and nobody answers. This is terrible."),
    ("79005550102@c.us", "Boris", "Great service, thank you! The courier was polite and everything is perfect."),
    ("79005550101@c.us", "Anna", "It is still missing today. I want a refund."),
    ("79005550102@c.us", "Boris", "What time do you open on Saturday?"),
)
_SETTLED = ("read", "failed", "noAccount", "notInGroup", "yellowCard")


def play(
    *,
    webhook_url: str,
    token: str,
    id_instance: str = defaults.ID_INSTANCE,
    delay_s: float = 1.0,
    watch_s: float = 15.0,
    control_url: str = f"http://{defaults.HOST}:{defaults.GREEN_API_CONTROL_PORT}",
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Post the conversation; 0 when every webhook answered 2xx, else 1 with one line on ``err``."""
    try:
        check_webhook_url(webhook_url)
    except ValueError as exc:
        print(f"play: {exc}", file=err)
        return 2
    ids = payloads.MessageIds(length=16)
    started = time.time()
    for step, (chat_id, name, text) in enumerate(CONVERSATION, 1):
        body = payloads.incoming_message(
            id_instance=id_instance,
            wid=defaults.WID,
            id_message=ids.next(),
            chat_id=chat_id,
            sender_name=name,
            text=text,
        )
        try:
            status, answer = call("POST", webhook_url, payload=body, headers={"Authorization": f"Bearer {token}"})
        except Unreachable as exc:
            print(f"play: nothing answers at {webhook_url} ({exc}); is `make run` running?", file=err)
            return 1
        print(f"{step}/{len(CONVERSATION)} {name} ({chat_id}): {text!r} -> HTTP {status}", file=out, flush=True)
        problem = _problem(status, answer, webhook_url)
        if problem:
            print(f"play: {problem}", file=err)
            return 1
        if step < len(CONVERSATION):
            time.sleep(delay_s)
    print(f"played {len(CONVERSATION)} messages into {webhook_url}", file=out, flush=True)
    if watch_s > 0:
        _watch_replies(control_url, since=started, seconds=watch_s, out=out)
    return 0


def _problem(status: int, answer: Any, url: str) -> str:
    if 200 <= status < 300:
        return ""
    if status == 404:
        return f"{url} answered 404: this build has no Green API webhook at that path yet"
    if status == 401:
        return f"{url} answered 401: the token is not the service's GREEN_API_WEBHOOK_TOKEN (use --token)"
    if status == 403:
        return f"{url} answered 403: the instance id is not the service's GREEN_API_ID_INSTANCE (use --id-instance)"
    shown = answer if isinstance(answer, str) else str(answer)
    return f"{url} answered {status}: {shown[:200]}"


def _watch_replies(control_url: str, *, since: float, seconds: float, out: TextIO) -> None:
    """Print each reply the stand-in accepted for the conversation's chats as its status settles."""
    chats = {chat_id: name for chat_id, name, _ in CONVERSATION}
    shown: dict[str, tuple[str, str]] = {}  # idMessage -> (chatId, status)
    deadline = time.monotonic() + seconds
    print(f"watching replies for {seconds:.0f} s (Green API stand-in at {control_url})", file=out, flush=True)
    while time.monotonic() < deadline:
        try:
            _, answer = call("GET", f"{control_url}/_sandbox/journal", timeout=5)
        except Unreachable:
            print("the Green API stand-in is not running: replies are not shown", file=out, flush=True)
            return
        messages = answer.get("messages", []) if isinstance(answer, dict) else []
        for message in messages:
            chat_id, status = message.get("chatId"), message.get("statusMessage", "")
            if chat_id not in chats or message.get("timestamp", 0) < int(since):
                continue
            if shown.get(message["idMessage"]) != (chat_id, status):
                shown[message["idMessage"]] = (chat_id, status)
                text = message.get("textMessage", "")
                print(f"  reply to {chats[chat_id]}: {text!r} [{status}]", file=out, flush=True)
        replied = {chat_id for chat_id, _ in shown.values()}
        if replied == set(chats) and all(status in _SETTLED for _, status in shown.values()):
            return
        time.sleep(0.5)
    if not shown:
        print(f"no reply reached the stand-in within {seconds:.0f} s", file=out, flush=True)
