"""The benchmarks' own databases on the PostgreSQL of ``tests.services`` (``DATABASE_URL``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent


def database_url(name: str) -> str:
    """``DATABASE_URL`` with its database replaced by ``name``."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{name}"))


def database_create(name: str, *, migrate: bool = True) -> str:
    """A new, empty database ``name`` (an older one of that name is dropped), migrated unless told not to; its URL."""
    database_drop(name)
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = database_url(name)
    if migrate:
        env = {**os.environ, "DATABASE_URL": url, "APP_ENV": "testing"}
        subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True)
    return url


def database_drop(name: str) -> None:
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
