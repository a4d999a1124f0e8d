"""FastAPI application factory (settings are read when the app is built, never at import)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from api import errors, security
from api.guard import InputGuard, install_log_filter
from api.logs import configure_logging
from api.routes import (
    auth,
    geocode,
    health,
    insights,
    jurisdiction,
    maps,
    maps_static,
    open311,
    petitions,
    units,
)
from grid import __version__
from grid.config import Settings, get_settings
from grid.errors import ConfigError


def _warm(url: str) -> None:
    """Build today's jurisdiction index in the background so the first lookup is fast."""
    try:
        from grid.db.engine import session_scope
        from grid.db.jurisdiction import get_index

        with session_scope(url) as s:
            get_index(s, dt.date.today())
    except Exception as exc:  # a cold cache is not an error: the first request builds it
        logging.getLogger("gridgov.api").info("index warm-up skipped: %s", exc)


SWEEP_EVERY_S = 60.0


def _sweep(url: str, stop: threading.Event) -> None:
    """Finish petitions a crash left 'received' (at start, then every minute) until ``stop``."""
    from grid.db.petitions import sweep_received

    log = logging.getLogger("gridgov.api")
    while True:
        try:
            done, failed = sweep_received(url)
            if done or failed:
                log.warning("sweep: %d petition(s) left 'received' were dispatched, %d failed", done, failed)
        except Exception as exc:  # the database may be down: try again next round
            log.info("sweep skipped: %s", exc)
        if stop.wait(SWEEP_EVERY_S):
            return


def create_app(
    settings: Settings | None = None,
    database_url: str | None = None,
    warm: bool = False,
    sweep: bool = True,
) -> FastAPI:
    """The app. ``warm`` builds today's index in the background at start; ``sweep`` (default on)
    finishes petitions a crash left 'received', at start and every minute, while the app runs."""
    settings = settings or get_settings()
    problems = settings.unsafe()
    if problems:  # outside development, refuse to serve with unsafe settings (docs/SECURITY.md)
        raise ConfigError(
            f"refusing to serve in {settings.environment} mode: "
            + "; ".join(problems)
            + " (or set GRIDGOV_ENVIRONMENT=development on a machine of your own)",
            code="unsafe_settings",
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        if warm:
            threading.Thread(target=_warm, args=(app.state.database_url,), daemon=True).start()
        sweeper = None
        if sweep:
            sweeper = threading.Thread(target=_sweep, args=(app.state.database_url, stop), daemon=True)
            sweeper.start()
        yield
        stop.set()
        if sweeper is not None:
            sweeper.join(timeout=30)  # a sweep in progress finishes its petition

    app = FastAPI(
        lifespan=lifespan,
        title="gridgov",
        version=__version__,
        description="Who owns this place: units, grid cells, officers and departments of a city. "
        "Roles and the endpoints each may call: docs/SECURITY.md.",
        dependencies=[Depends(security.rate_limit)],
    )
    app.state.settings = settings
    app.state.database_url = database_url or settings.database_url
    configure_logging(settings.log_level, fmt=settings.log_format)
    errors.install(app)
    install_log_filter()
    app.add_middleware(InputGuard)  # inside the body limit (added by security.install: outermost)
    security.install(app, settings)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(units.router)
    app.include_router(jurisdiction.router)
    app.include_router(geocode.router)
    app.include_router(petitions.router)
    app.include_router(open311.router)
    app.include_router(insights.router)
    app.include_router(maps.router)
    maps_static.mount_static(app)
    return app
