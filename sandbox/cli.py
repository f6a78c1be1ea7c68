"""``python -m sandbox serve | control | play``: the stand-ins from a shell.

Credentials default to the product's environment variables when they are set (so the
stand-ins accept what the service sends) and to the development defaults otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from typing import Any

from sandbox import defaults
from sandbox.client import Unreachable, call
from sandbox.deepseek import MODES, DeepSeekStandIn
from sandbox.green_api import FINAL_STATUSES, STATES, GreenApiStandIn
from sandbox.play import play
from sandbox.server import StandIn

CONTROL_URLS = {
    "green-api": f"http://{defaults.HOST}:{defaults.GREEN_API_CONTROL_PORT}",
    "deepseek": f"http://{defaults.HOST}:{defaults.DEEPSEEK_CONTROL_PORT}",
}
_UNSET = object()  # --state-instance null means None, so None cannot mean "not given"
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
SHOWABLE = ("state", "stats", "requests", "journal", "webhooks", "notifications")


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _configured(name: str, default_url: str) -> bool:
    """True when the product is pointed somewhere other than the stand-in's default URL."""
    if os.environ.get(f"{name}_FILE"):
        return True
    value = (os.environ.get(name) or "").strip().rstrip("/").removesuffix("/v1")
    return bool(value) and value != default_url


def _on_off(value: str) -> bool:
    if value not in ("on", "off"):
        raise argparse.ArgumentTypeError("use on or off")
    return value == "on"


def _state(value: str) -> str | None:
    if value == "null":
        return None
    if value not in STATES:
        raise argparse.ArgumentTypeError(f"use one of: {', '.join(s for s in STATES if s)}, null")
    return value


def _int_list(value: str) -> list[int]:
    try:
        return [int(part) for part in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("use comma-separated whole numbers, e.g. 100,250,500") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="Local Green API and DeepSeek stand-ins.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run both stand-ins until SIGINT/SIGTERM")
    serve.add_argument("--green-api-port", type=int, default=defaults.GREEN_API_PORT)
    serve.add_argument("--green-api-control-port", type=int, default=defaults.GREEN_API_CONTROL_PORT)
    serve.add_argument("--deepseek-port", type=int, default=defaults.DEEPSEEK_PORT)
    serve.add_argument("--deepseek-control-port", type=int, default=defaults.DEEPSEEK_CONTROL_PORT)
    serve.add_argument(
        "--webhook-url", default=defaults.webhook_url(), help="where webhooks go (default: the web process, WEB_PORT)"
    )
    serve.add_argument("--webhook-token", default=_env("GREEN_API_WEBHOOK_TOKEN", defaults.WEBHOOK_TOKEN))
    serve.add_argument("--id-instance", default=_env("GREEN_API_ID_INSTANCE", defaults.ID_INSTANCE))
    serve.add_argument("--token", default=_env("GREEN_API_TOKEN", defaults.INSTANCE_TOKEN))
    serve.add_argument("--deepseek-key", default=_env("DEEPSEEK_API_KEY", defaults.DEEPSEEK_API_KEY))
    serve.add_argument(
        "--skip-configured",
        action="store_true",
        help="start only the stand-ins whose GREEN_API_URL / DEEPSEEK_BASE_URL is unset or the default "
        "(none with APP_ENV=production); with none to start, wait idle until stopped (for make run)",
    )
    serve.add_argument("--quiet", action="store_true", help="no line per request")

    control = commands.add_parser("control", help="switch a running stand-in's faults")
    control.add_argument("target", choices=sorted(CONTROL_URLS))
    control.add_argument("--url", help="the stand-in's control URL (default http://127.0.0.1:8101 or :8201)")
    control.add_argument("--reset", action="store_true", help="forget what was received, restore the start switches")
    control.add_argument("--show", choices=SHOWABLE, help="print this report instead of the state")
    switches = control.add_argument_group("switches (both)")
    switches.add_argument("--outage", type=_on_off, metavar="on|off", help="refuse connections to the API port")
    switches.add_argument("--latency-ms", type=int)
    switches.add_argument("--error-rate", type=float, help="share of requests answered --error-status (0..1)")
    switches.add_argument("--error-status", type=int)
    switches.add_argument("--lost-reply-rate", type=float, help="share of requests done but not answered (0..1)")
    switches.add_argument("--lost-reply-mode", choices=("close", "late"))
    switches.add_argument("--late-reply-ms", type=int, help="how late a 'late' lost reply comes")
    switches.add_argument("--seed", type=int, help="seed of the error and lost-reply draws")
    switches.add_argument("--methods", help="comma-separated endpoints the faults apply to ('' for all)")
    green = control.add_argument_group("switches (green-api)")
    green.add_argument(
        "--state-instance", type=_state, default=_UNSET, metavar="STATE", help="authorized, notAuthorized, ..., null"
    )
    green.add_argument("--quota", type=_on_off, metavar="on|off", help="answer sendMessage with 466")
    green.add_argument("--journal-lag-ms", type=int, help="delay before a send shows in lastOutgoingMessages")
    green.add_argument("--status-delays-ms", type=_int_list, metavar="SENT,DELIVERED,READ")
    green.add_argument("--final-status", choices=FINAL_STATUSES)
    deepseek = control.add_argument_group("switches (deepseek)")
    deepseek.add_argument("--mode", choices=MODES)
    deepseek.add_argument("--keepalive-lines", type=int, help="blank lines sent before the JSON")
    deepseek.add_argument("--keepalive-interval-ms", type=int)

    player = commands.add_parser("play", help="play a sample conversation into the webhook")
    player.add_argument("--webhook-url", default=defaults.webhook_url())
    player.add_argument("--token", default=_env("GREEN_API_WEBHOOK_TOKEN", defaults.WEBHOOK_TOKEN))
    player.add_argument("--id-instance", default=_env("GREEN_API_ID_INSTANCE", defaults.ID_INSTANCE))
    player.add_argument("--delay", type=float, default=1.0, help="seconds between messages")
    player.add_argument("--watch", type=float, default=15.0, help="seconds to watch for replies (0: do not)")
    player.add_argument("--green-api-control-url", default=CONTROL_URLS["green-api"])
    return parser


def _serve(args: argparse.Namespace) -> int:
    production = os.environ.get("APP_ENV") == "production"
    wanted = {
        "green-api": not (
            args.skip_configured and (production or _configured("GREEN_API_URL", defaults.GREEN_API_URL))
        ),
        "deepseek": not (
            args.skip_configured and (production or _configured("DEEPSEEK_BASE_URL", defaults.DEEPSEEK_BASE_URL))
        ),
    }
    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    stand_ins: list[StandIn] = []
    try:
        if wanted["green-api"]:
            stand_ins.append(
                GreenApiStandIn(
                    port=args.green_api_port,
                    control_port=args.green_api_control_port,
                    id_instance=args.id_instance,
                    token=args.token,
                    webhook_url=args.webhook_url,
                    webhook_token=args.webhook_token,
                )
            )
        if wanted["deepseek"]:
            stand_ins.append(
                DeepSeekStandIn(
                    port=args.deepseek_port, control_port=args.deepseek_control_port, api_key=args.deepseek_key
                )
            )
    except ValueError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    # Blocked before any thread starts, so every thread inherits the mask and the signals
    # wait for sigwait below. (An Event set from a signal handler can deadlock on its own
    # lock when the signal lands while the main thread holds it.)
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    started: list[StandIn] = []
    for stand_in in stand_ins:
        try:
            stand_in.start()
        except OSError as exc:
            print(f"sandbox: {stand_in.name} cannot listen on {defaults.HOST}: {exc.strerror or exc}", file=sys.stderr)
            for running in started:
                running.stop()
            return 1
        started.append(stand_in)
        print(f"sandbox: {stand_in.name} on {stand_in.url}, control on {stand_in.control_url}", flush=True)
    if not started:
        print("sandbox: GREEN_API_URL and DEEPSEEK_BASE_URL are configured: no stand-in started", flush=True)
    for name, on in wanted.items():
        if not on and started:
            print(f"sandbox: {name} is configured elsewhere: its stand-in is not started", flush=True)
    signal.sigwait(STOP_SIGNALS)
    for stand_in in started:
        stand_in.stop()
    print("sandbox: stopped", flush=True)
    return 0


def _control(args: argparse.Namespace) -> int:
    base = (args.url or CONTROL_URLS[args.target]).rstrip("/")
    values: dict[str, Any] = {
        name: value
        for name, value in {
            "outage": args.outage,
            "latency_ms": args.latency_ms,
            "error_rate": args.error_rate,
            "error_status": args.error_status,
            "lost_reply_rate": args.lost_reply_rate,
            "lost_reply_mode": args.lost_reply_mode,
            "late_reply_ms": args.late_reply_ms,
            "seed": args.seed,
            "quota_exceeded": args.quota,
            "journal_lag_ms": args.journal_lag_ms,
            "status_delays_ms": args.status_delays_ms,
            "final_status": args.final_status,
            "mode": args.mode,
            "keepalive_lines": args.keepalive_lines,
            "keepalive_interval_ms": args.keepalive_interval_ms,
        }.items()
        if value is not None
    }
    if args.methods is not None:
        values["methods"] = [name.strip() for name in args.methods.split(",") if name.strip()]
    if args.state_instance is not _UNSET:
        values["state_instance"] = args.state_instance
    steps: list[tuple[str, str, Any]] = []
    if args.reset:
        steps.append(("POST", "reset", {}))
    if values:
        steps.append(("POST", "control", values))
    steps.append(("GET", args.show or "state", None))
    for method, name, payload in steps:
        try:
            status, answer = call(method, f"{base}/_sandbox/{name}", payload=payload)
        except Unreachable as exc:
            print(
                f"sandbox control: nothing answers at {base} ({exc}); is `python -m sandbox serve` running?",
                file=sys.stderr,
            )
            return 1
        if status != 200:
            message = answer.get("error", answer) if isinstance(answer, dict) else answer
            print(f"sandbox control: {args.target} refused {name}: {message}", file=sys.stderr)
            return 2
    print(json.dumps(answer, indent=2, ensure_ascii=False))
    return 0


def _play(args: argparse.Namespace) -> int:
    return play(
        webhook_url=args.webhook_url,
        token=args.token,
        id_instance=args.id_instance,
        delay_s=args.delay,
        watch_s=args.watch,
        control_url=args.green_api_control_url,
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return {"serve": _serve, "control": _control, "play": _play}[args.command](args)
