"""The sandbox stays apart from the product, and its defaults equal the product's."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from sandbox import defaults

ROOT = Path(__file__).resolve().parents[3]
PRODUCT = ("config", "reliability", "messaging", "health")


def _python(code: str, **env: str) -> str:
    base = {key: value for key, value in os.environ.items() if not key.startswith(("GREEN_API_", "DEEPSEEK_"))}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_sandbox_defaults_are_the_development_settings():
    shown = _python(
        "import django, json; django.setup(); from django.conf import settings as s; print(json.dumps(["
        "s.GREEN_API_URL, s.GREEN_API_ID_INSTANCE, s.GREEN_API_TOKEN, s.GREEN_API_WEBHOOK_TOKEN,"
        "s.DEEPSEEK_BASE_URL, s.DEEPSEEK_API_KEY]))",
        DJANGO_SETTINGS_MODULE="config.settings",
        APP_ENV="development",
    )
    assert json.loads(shown) == [
        defaults.GREEN_API_URL,
        defaults.ID_INSTANCE,
        defaults.INSTANCE_TOKEN,
        defaults.WEBHOOK_TOKEN,
        defaults.DEEPSEEK_BASE_URL,
        defaults.DEEPSEEK_API_KEY,
    ]


def test_the_sandbox_imports_neither_django_nor_the_product():
    shown = _python(
        "import sys, json, sandbox, sandbox.cli, sandbox.play; "
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {('django', *PRODUCT)!r})))"
    )
    assert json.loads(shown) == []


def test_the_product_never_imports_the_sandbox():
    importers = []
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                if any(name == "sandbox" or name.startswith("sandbox.") for name in names):
                    importers.append(str(path.relative_to(ROOT)))
    assert importers == []
