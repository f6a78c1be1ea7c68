"""promtool, from Debian's ``prometheus`` package: the suite needs it and never skips without it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run ``promtool ARGS`` from the project root; fail the test loudly when promtool is missing."""
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool not found: install it with `apt-get install -y prometheus` (.ci/run does)")
    return subprocess.run(
        [binary, *args], cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )
