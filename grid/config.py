"""Settings from the environment (``GRIDGOV_*``), built by a cached factory.

Defaults point at the local PostgreSQL cluster that ``scripts/bootstrap`` prepares, so a
fresh checkout needs no configuration; every value can be overridden per deployment.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DB = "postgresql+psycopg://gridgov:gridgov@127.0.0.1:5432/gridgov"
DEFAULT_TEST_DB = "postgresql+psycopg://gridgov:gridgov@127.0.0.1:5432/gridgov_test"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDGOV_", env_file=".env", extra="ignore")

    environment: str = Field(
        "production",
        description="production (default: unsafe settings are refused) | development (demo, tests)",
    )
    # Security (docs/SECURITY.md). No default secret: production refuses to start without one.
    secret_key: str | None = Field(
        None, description="signs login tokens (JWT HS256); at least 32 characters; required in production"
    )
    token_minutes: int = Field(60, ge=1, le=24 * 60, description="lifetime of a login token")
    cors_origins: str = Field("", description="comma-separated origins allowed by CORS; empty = CORS closed")
    rate_limit_public: str = Field(
        "600/minute", description="requests per client address without credentials (limits syntax)"
    )
    rate_limit_key: str = Field("6000/minute", description="requests per API key or logged-in user")
    rate_limit_login: str = Field("10/minute", description="login attempts per client address")
    rate_limit_exempt_keys: str = Field(
        "", description="comma-separated names of trusted system keys that are not rate limited"
    )
    rate_limit_storage: str = Field(
        "memory://",
        description="where the counters live (limits storage URI): memory:// counts per server process; "
        "redis://host:6379 shares them between workers and servers",
    )
    max_body_bytes: int = Field(2_000_000, ge=1024, description="largest request body accepted (bytes)")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="level of gridgov's own log lines (api/logs.py)"
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="text: key=value lines | json: one JSON object per line"
    )
    database_url: str = Field(DEFAULT_DB, description="SQLAlchemy URL of the PostGIS database")
    test_database_url: str = Field(DEFAULT_TEST_DB, description="database the test suite may wipe")
    # Validation tolerances (square metres / metres, measured in a metric CRS).
    tolerance_m2: float = Field(
        25.0, description="overlaps, gaps and outside-parent parts above this area are errors"
    )
    sliver_ratio: float = Field(0.02, description="Polsby-Popper below this marks a sliver (warning)")
    sliver_max_m2: float = Field(2000.0, description="only units smaller than this can be slivers")
    metric_epsg: int | None = Field(
        None, description="metric CRS for areas; default: CGCS2000 3-degree GK zone of the data"
    )
    near_boundary_m: float = Field(10.0, description="flag answers within this distance of a boundary")
    gap_tolerance_m: float = Field(50.0, description="a point in a gap goes to the nearest unit within this")
    # The city: placeless petitions (most consultations) are routed on the chain [city_code].
    city_code: str = Field("110000", description="GB/T 2260 code of the city (placeless routing)")
    city_name: str = Field("北京市", description="name of the city, for its departments")
    timezone: str = Field("Asia/Shanghai", description="local time of petitions, deadlines and months")
    # Petitions (defaults from the draft DB11/T 2021-2022; configurable, not final).
    time_limits: str = Field(
        "urgent=2h,utilities=24h,general=7wd,complex=15wd",
        description="time limit per urgency: Nh hours, Nd calendar days, Nwd working days",
    )
    holiday_file: str | None = Field(
        None, description="JSON of extra holidays / make-up working days (years the library lacks)"
    )
    duplicate_radius_m: float = Field(250.0, description="an open petition of the same category this near")
    duplicate_window_h: float = Field(72.0, description="... and received this many hours before is a me-too")
    # Maps: no basemap tiles unless configured (the gazetteer's roads and buildings are drawn instead).
    map_tiles_url: str | None = Field(None, description="basemap URL template {z}/{x}/{y}; none = no tiles")
    map_tiles_attribution: str | None = Field(None, description="attribution of the basemap tiles")
    map_tiles_datum: str = Field("wgs84", description="datum of the tiles: wgs84 or gcj02 (AMap, Tencent)")
    map_k_min: int = Field(3, description="cells with fewer petitions show no count")
    host: str = "127.0.0.1"
    port: int = 8000

    @property
    def development(self) -> bool:
        return self.environment == "development"

    def unsafe(self) -> list[str]:
        """What makes these settings unsafe to serve outside development (empty = fine)."""
        problems = []
        if self.environment not in ("development", "production"):
            problems.append(f"GRIDGOV_ENVIRONMENT={self.environment!r}: use production or development")
        if self.development:
            return problems
        if not self.secret_key:
            problems.append(
                "GRIDGOV_SECRET_KEY is not set (python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        elif len(self.secret_key) < 32:
            problems.append("GRIDGOV_SECRET_KEY is shorter than 32 characters")
        elif self.secret_key in KNOWN_WEAK_SECRETS:
            problems.append("GRIDGOV_SECRET_KEY is a published example value")
        if "*" in self.cors_list:
            problems.append("GRIDGOV_CORS_ORIGINS='*' opens the API to every web site: list the origins")
        return problems

    @property
    def cors_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def exempt_keys(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.rate_limit_exempt_keys.split(",") if k.strip())


KNOWN_WEAK_SECRETS = frozenset({"changeme" * 4, "secret" * 6, "development-secret-key-not-for-production"})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
