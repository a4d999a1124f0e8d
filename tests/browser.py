"""Browser tests: Debian's chromium driven by Playwright, and a loopback server to test against.

``browser_page`` (a pytest fixture; import it into the test module) gives a fresh page whose
console errors, uncaught page errors, failed requests and every request URL are recorded.
Requests to any host other than 127.0.0.1 / localhost are aborted (never sent) and recorded,
so ``assert_local_only`` fails on them. ``serve_app`` runs an ASGI app with uvicorn in a
thread on a free loopback port.

Chromium is never skipped: when /usr/bin/chromium is missing the fixture fails and says to
run ``make test`` (scripts/bootstrap installs chromium and fonts-noto-cjk). ``playwright
install`` is not used: its browser download is not available here.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
# schemes that are not network requests
LOCAL_SCHEMES = frozenset({"data", "blob", "about", "chrome-error", "file"})


def is_local(url: str) -> bool:
    """True for loopback http(s) URLs and for non-network schemes (data:, blob:, about:)."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return parts.scheme in ("http", "https", "ws", "wss") and (parts.hostname or "") in LOCAL_HOSTS


@dataclass
class BrowserPage:
    """A Playwright page and what it did."""

    page: Any  # playwright.sync_api.Page
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    bad_status: list[str] = field(default_factory=list)

    def external_requests(self) -> list[str]:
        return [u for u in self.requests if not is_local(u)]

    def assert_local_only(self) -> None:
        """No request went (or tried to go) anywhere but 127.0.0.1 / localhost."""
        external = self.external_requests()
        assert not external, f"requests outside 127.0.0.1/localhost: {external}"

    def assert_clean(self) -> None:
        """No console error, uncaught exception, failed request or HTTP error status."""
        problems = {
            "console errors": self.console_errors,
            "page errors": self.page_errors,
            "failed requests": self.failed,
            "HTTP errors": self.bad_status,
        }
        found = {k: v for k, v in problems.items() if v}
        assert not found, f"the page had problems: {found}"

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        """Save ``tests/artifacts/<name>.png`` and return its path."""
        if not re.fullmatch(r"[\w.-]+", name):
            raise ValueError(f"bad screenshot name {name!r}")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


def _require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: browser tests need Debian's chromium and fonts-noto-cjk. "
            "Run `make test` (scripts/bootstrap installs them) or: apt-get install -y chromium fonts-noto-cjk",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Any]:
    """One headless chromium for the session."""
    _require_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed in .venv: run `make test`", pytrace=False)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture()
def browser_page(chromium_browser: Any) -> Iterator[BrowserPage]:
    """A fresh page (own context, 1280x800, zh-CN) recording its requests and errors."""
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    rec = BrowserPage(page=page)

    def route(r: Any) -> None:
        if is_local(r.request.url):
            r.continue_()
        else:
            rec.blocked.append(r.request.url)
            r.abort("blockedbyclient")

    context.route("**/*", route)
    page.on("request", lambda req: rec.requests.append(req.url))
    page.on(
        "console",
        lambda msg: (
            rec.console_errors.append(f"{msg.text} @ {msg.location.get('url', '')}")
            if msg.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda exc: rec.page_errors.append(str(exc)))
    page.on("requestfailed", lambda req: rec.failed.append(f"{req.url}: {req.failure}"))
    page.on(
        "response",
        lambda resp: rec.bad_status.append(f"{resp.status} {resp.url}") if resp.status >= 400 else None,
    )
    try:
        yield rec
    finally:
        context.close()


# ------------------------------------------------------------------------------ server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_app(app: Any, start_timeout: float = 20.0) -> Iterator[str]:
    """Serve the ASGI ``app`` with uvicorn in a thread on 127.0.0.1; yield its base URL."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the test server on port {port} did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
