"""A real gunicorn whose Redis stops: operator APIs answer 503 with a message, never a 500."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.e2e.conftest import ROOT
from tests.services import RedisServer


def _api_token(database_url: str, tmp_path) -> str:
    script = (
        "from django.contrib.auth import get_user_model; from rest_framework.authtoken.models import Token;"
        "user = get_user_model().objects.create_superuser('oncall', 'oncall@example.com', 'pw');"
        "print(Token.objects.create(user=user).key)"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url, "VAR_DIR": str(tmp_path / "var")},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.strip().splitlines()[-1]


def test_operator_apis_answer_503_while_redis_is_down(fresh_database, web_server, tmp_path):
    token = _api_token(fresh_database, tmp_path)
    auth = {"Authorization": f"Token {token}"}
    redis = RedisServer().start()
    try:
        web = web_server(DATABASE_URL=fresh_database, REDIS_URL=redis.url)
        assert web.post("/admin/reliability/circuit-breakers/green_api/reset", headers=auth).status_code == 200

        redis.stop()
        response = web.post("/admin/reliability/circuit-breakers/green_api/reset", headers=auth)
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "5"
        assert response.json() == {"detail": "Redis is unavailable right now; try again in a few seconds"}
    finally:
        redis.cleanup()
