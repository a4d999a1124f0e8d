"""A real API server for the HTTP benchmarks: uvicorn (one worker) on a free loopback port."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_sample() -> None:
    """Load the Beijing sample city into the configured database when it has no grid cells."""
    from data.sample import BUILD_DIR, SAMPLE_VALID_FROM, load_sample
    from grid.config import get_settings
    from grid.db.engine import session_scope
    from grid.db.migrate import upgrade
    from grid.db.store import units_at

    upgrade(get_settings().database_url, "head")  # a fresh database has no tables yet
    with session_scope() as s:
        have = len(units_at(s, SAMPLE_VALID_FROM, "grid"))
    if have == 0:
        load_sample(BUILD_DIR)


# A loopback server for measuring handlers: development mode, and rate limits far above what one
# client can send (the limiter itself is tested in tests/test_security.py; bench_load runs with
# the default limits and an exempt key, as a trusted system would).
BENCH_ENV = {
    "GRIDGOV_ENVIRONMENT": "development",
    "GRIDGOV_RATE_LIMIT_PUBLIC": "1000000/minute",
    "GRIDGOV_RATE_LIMIT_KEY": "1000000/minute",
}


def start_api(
    env: dict[str, str] | None = None,
    start_timeout: float = 60.0,
    stderr: Any = subprocess.PIPE,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``api.app:create_app`` under uvicorn (one process) against the configured database;
    return ``(process, port)`` once ``/ping`` answers. The caller stops the process (it is killed
    here when it does not come up in ``start_timeout`` seconds)."""
    from grid.config import get_settings

    port = free_port()
    full_env = {
        **os.environ,
        **BENCH_ENV,
        "GRIDGOV_DATABASE_URL": get_settings().database_url,
        **(env or {}),
    }
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", "1", "--log-level", "warning", "--no-access-log"]
    server = subprocess.Popen(cmd, env=full_env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.time() + start_timeout
        while time.time() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"the API server exited with status {server.returncode} while starting")
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/ping")
                if c.getresponse().status == 200:
                    return server, port
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the API server did not start")
    except BaseException:
        stop_api(server)
        raise


def stop_api(server: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Terminate the server (SIGTERM, then SIGKILL after ``timeout`` seconds); a no-op once it exited."""
    if server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@contextmanager
def serve_api(env: dict[str, str] | None = None, start_timeout: float = 60.0) -> Iterator[int]:
    """Serve ``api.app:create_app`` against the configured database; yield the port; stop it after."""
    server, port = start_api(env, start_timeout)
    try:
        yield port
    finally:
        stop_api(server)
