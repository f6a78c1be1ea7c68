"""Throwaway PostgreSQL and Redis servers for the test suite and the benchmarks.

``python -m tests.services -- COMMAND...`` starts both in temporary directories on free
loopback ports, exports ``DATABASE_URL`` and ``REDIS_URL`` to COMMAND, and stops them
afterwards. Tests that need to stop or restart a server mid-run start their own with
``RedisServer`` / ``PostgresServer``. A missing server binary is an error that names the
apt-get line to install it: the suite never skips real-service tests.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


class ServiceUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _find_binary(name: str, package: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    # Debian keeps the PostgreSQL server binaries out of PATH.
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return candidates[-1]
    raise ServiceUnavailable(f"{name} not found: install it with `apt-get install -y {package}`")


def _wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceUnavailable(f"{what} exited with code {process.returncode} during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise ServiceUnavailable(f"{what} did not listen on port {port} within {timeout:.0f} s")


class RedisServer:
    """A redis-server with no persistence, in its own directory."""

    def __init__(self, port: int | None = None) -> None:
        self.binary = _find_binary("redis-server", "redis-server")
        self.port = port or free_port()
        self.directory = tempfile.mkdtemp(prefix="test-redis-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.directory,
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port, self.process, "redis-server")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class PostgresServer:
    """A PostgreSQL cluster in a temporary directory, tuned for tests (no fsync).

    PostgreSQL refuses to run as root, so under root (CI) the cluster belongs to the
    unprivileged ``postgres`` user and its programs run through ``runuser``.
    """

    def __init__(self, port: int | None = None) -> None:
        self.initdb = _find_binary("initdb", "postgresql")
        self.postgres = _find_binary("postgres", "postgresql")
        self.port = port or free_port()
        self.directory = tempfile.mkdtemp(prefix="test-postgres-")
        self.process: subprocess.Popen | None = None
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise ServiceUnavailable("runuser not found: install it with `apt-get install -y util-linux`")
            self._as_user = [runuser, "-u", "postgres", "--"]
            shutil.chown(self.directory, user="postgres", group="postgres")
            os.chmod(self.directory, 0o700)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresServer:
        """Create the cluster and start it; after ``stop()``, start the same cluster again."""
        data = str(Path(self.directory) / "data")
        if not Path(data).exists():
            subprocess.run(
                [*self._as_user, self.initdb, "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        self.process = subprocess.Popen(
            [
                *self._as_user,
                self.postgres,
                "-D",
                data,
                "-p",
                str(self.port),
                "-k",
                self.directory,
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait_for_port(self.port, self.process, "postgres")
        self._wait_for_connections()
        return self

    def _wait_for_connections(self, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            # SIGINT is PostgreSQL's "fast shutdown"; runuser passes it on.
            os.killpg(self.process.pid, signal.SIGINT)
            self.process.wait(timeout=30)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        sys.stderr.write("usage: python -m tests.services -- COMMAND [ARGS...]\n")
        return 2
    try:
        redis = RedisServer().start()
        postgres = PostgresServer().start()
    except (ServiceUnavailable, subprocess.CalledProcessError) as exc:
        detail = exc.stderr.decode().strip() if isinstance(exc, subprocess.CalledProcessError) and exc.stderr else exc
        sys.stderr.write(f"cannot start test services: {detail}\n")
        return 2
    sys.stderr.write(f"test services: PostgreSQL on 127.0.0.1:{postgres.port}, Redis on 127.0.0.1:{redis.port}\n")
    env = {**os.environ, "DATABASE_URL": postgres.url, "REDIS_URL": redis.url}
    env.setdefault("APP_ENV", "testing")
    try:
        return subprocess.call(argv, env=env)
    except KeyboardInterrupt:
        return 130
    finally:
        postgres.cleanup()
        redis.cleanup()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
