"""Bad input over real HTTP: gunicorn's own decoding of header bytes and of %00, on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from tests.e2e.conftest import ROOT

TOKEN = "clé-de-surveillance"
CREATE_STAFF_TOKEN = """
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
user = get_user_model().objects.create_superuser("root", "root@example.com", "unused-password-1")
print(Token.objects.create(user=user).key)
"""


@pytest.fixture
def web(fresh_database, web_server, redis_client, tmp_path):
    from django.conf import settings

    env = {"DATABASE_URL": fresh_database, "REDIS_URL": settings.REDIS_URL, "HEALTH_TOKEN": TOKEN}
    created = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", CREATE_STAFF_TOKEN],
        cwd=ROOT,
        env={**os.environ, **env, "VAR_DIR": str(tmp_path / "var")},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    server = web_server(**env)
    server.api_token = created.stdout.strip().splitlines()[-1]
    return server


@pytest.mark.parametrize("path", ["/health/detailed", "/health/dlq", "/health/circuit-breakers", "/metrics"])
def test_non_ascii_bearer_bytes_are_a_wrong_token_and_the_right_ones_match(web, path):
    wrong = web.get(path, headers={"Authorization": "Bearer ключ".encode()})
    right = web.get(path, headers={"Authorization": f"Bearer {TOKEN}".encode()})

    assert wrong.status_code == (401 if path in ("/health/detailed", "/metrics") else 200)
    assert right.status_code == 200
    assert "no-store" in right.headers["Cache-Control"]


def test_nul_and_deep_json_are_400_over_http(web):
    api = {"Authorization": f"Token {web.api_token}"}
    breakers = "/admin/reliability/circuit-breakers"

    nul_path = web.get(f"{breakers}/%00", headers=api)
    nul_query = web.get("/admin/reliability/circuitbreaker/operate/reset/?name=%00")
    deep = web.post(
        f"{breakers}/green_api/reset", data="[" * 100_000, headers={**api, "Content-Type": "application/json"}
    )
    nan = requests.patch(f"{web.url}{breakers}/green_api", json={"recovery_timeout": "NaN"}, headers=api, timeout=10)

    assert (nul_path.status_code, nul_query.status_code, deep.status_code, nan.status_code) == (400, 400, 400, 400)
    assert "NUL characters are not allowed in the URL path" in nul_path.json()["detail"]
    assert "NUL characters are not allowed in the query string" in nul_query.text
    assert "nested deeper than 32 levels" in deep.json()["detail"]
    assert "must be a finite number" in nan.json()["recovery_timeout"][0]
