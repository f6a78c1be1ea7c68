"""Run a command in a process group of its own and pass a stop signal to its main process only.

``python config/signal_relay.py celery -A config worker ...`` is how the Procfile starts
the Celery worker. honcho stops a process by sending SIGTERM to its whole process
group; for a prefork worker that group holds the pool children too, which die at once
while the main process waits for them, so every Ctrl-C on ``make run`` ended with honcho's
SIGKILL five seconds later. Behind this relay the children are out of honcho's reach:
the main process alone gets one SIGTERM (SIGINT is mapped to it), runs Celery's warm
shutdown and stops its children itself, and the relay exits with its exit status.

A shutdown still running after ``KILL_AFTER_SECONDS`` (a long task) is ended with
SIGKILL to the command's whole group, just before honcho would kill the relay alone and
leave the worker running unseen; late acknowledgement puts the task back on the queue.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType

# honcho SIGKILLs what is still running five seconds after the first process stopped.
KILL_AFTER_SECONDS = 4.0


def relay(argv: list[str]) -> int:
    """Run ``argv``; on SIGTERM or SIGINT send it SIGTERM; return its exit status as a shell would."""
    deadline: float | None = None
    child: subprocess.Popen[bytes] | None = None

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal deadline
        if child is not None and deadline is None:
            deadline = time.monotonic() + KILL_AFTER_SECONDS
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    child = subprocess.Popen(argv, process_group=0)
    while True:
        try:
            returncode = child.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            if deadline is not None and time.monotonic() > deadline:
                _kill_group(child.pid)
    # Whatever the command left behind in its group goes with it.
    _kill_group(child.pid)
    return 128 - returncode if returncode < 0 else returncode


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def main() -> int:
    if len(sys.argv) < 2:
        sys.stderr.write("usage: python config/signal_relay.py COMMAND [ARGS...]\n")
        return 2
    try:
        return relay(sys.argv[1:])
    except FileNotFoundError as exc:
        sys.stderr.write(f"signal_relay: cannot run {sys.argv[1]!r}: {exc.strerror}\n")
        return 127


if __name__ == "__main__":
    sys.exit(main())
