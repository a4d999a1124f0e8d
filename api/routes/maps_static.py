"""Static files of the maps (vendored Leaflet, plugins, icons, fonts) at ``/maps/static``.

Pages built by ``maps.offline`` load every asset from ``/maps/static/vendor/...``
(``maps.offline.OFFLINE_PREFIX``): no request leaves our server. The vendored paths carry
the package version (``vendor/<package>/<version>/...``), so they are served as immutable.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from maps.offline import OFFLINE_PREFIX, STATIC_DIR

MOUNT_PATH = "/maps/static"
MOUNT_NAME = "maps_static"
IMMUTABLE = "public, max-age=31536000, immutable"

assert OFFLINE_PREFIX.startswith(MOUNT_PATH + "/"), "maps.offline.OFFLINE_PREFIX must lie under the mount"


class MapsStaticFiles(StaticFiles):
    """StaticFiles with a long cache lifetime for the versioned vendor files."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304) and path.replace("\\", "/").startswith("vendor/"):
            response.headers["Cache-Control"] = IMMUTABLE
        return response


def mount_static(app: FastAPI) -> None:
    """Serve ``maps/static`` at ``/maps/static`` (idempotent)."""
    if any(getattr(r, "name", None) == MOUNT_NAME for r in app.router.routes):
        return
    app.mount(MOUNT_PATH, MapsStaticFiles(directory=STATIC_DIR, check_dir=True), name=MOUNT_NAME)
