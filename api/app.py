"""FastAPI application factory (settings are read when the app is built, never at import)."""

from __future__ import annotations

from fastapi import FastAPI

from api import errors
from api.routes import health, units
from grid import __version__
from grid.config import Settings, get_settings


def create_app(settings: Settings | None = None, database_url: str | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="gridgov",
        version=__version__,
        description="Who owns this place: units, grid cells, officers and departments of a city.",
    )
    app.state.settings = settings
    app.state.database_url = database_url or settings.database_url
    errors.install(app)
    app.include_router(health.router)
    app.include_router(units.router)
    return app
