"""Who may do what: roles, permissions, scopes, password hashes and tokens (pure, no database).

People log in with a password (argon2 via pwdlib) and get a short-lived JWT (HS256 via
PyJWT, signed with ``settings.secret_key``); systems use API keys. Either way a request acts
as a :class:`Principal`: its roles grant permissions, and its *scope* (unit codes) limits which
petitions it can see at all. The scope is applied inside the queries (``owner_chain && scope``),
so a petition outside it is "not found", never "forbidden".

The table of endpoints and roles is docs/SECURITY.md; tests/test_security.py checks every row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from grid.errors import InputError, Unauthorized

ROLES: Mapping[str, str] = {
    "public": "who owns a place: jurisdiction, geocoding, units, maps of aggregated counts",
    "operator": "12345 centre: take in and read petitions, triage, callbacks (whole city)",
    "officer": "grid officer: the petitions of their own cells (scoped), work on them",
    "street_admin": "street office: its street's petitions (scoped): dispatch, return, callbacks, scores",
    "planner": "boundary rulings, settling disputes, city-wide scores and insights (no petition text)",
    "admin": "everything, city-wide; the contact audit log",
}
# roles whose principals must carry a scope (unit codes): without one they would see nothing
SCOPED_ROLES = frozenset({"officer", "street_admin"})

# permission -> roles holding it ("public" endpoints need no permission at all)
PERMISSIONS: Mapping[str, frozenset[str]] = {
    "petitions:create": frozenset({"operator", "admin"}),
    "petitions:read": frozenset({"operator", "officer", "street_admin", "admin"}),
    "petitions:triage": frozenset({"operator", "admin"}),
    "contact:read": frozenset({"operator", "street_admin", "admin"}),
    "scores:read": frozenset({"operator", "officer", "street_admin", "planner", "admin"}),
    "insights:read": frozenset({"operator", "officer", "street_admin", "planner", "admin"}),
    "rulings:write": frozenset({"planner", "admin"}),
    "audit:read": frozenset({"admin"}),
    # lifecycle actions (POST /v1/petitions/{id}/{action})
    "action:locate": frozenset({"operator", "admin"}),
    "action:merge": frozenset({"operator", "admin"}),
    "action:unmerge": frozenset({"operator", "admin"}),
    "action:accept": frozenset({"officer", "street_admin", "admin"}),
    "action:start": frozenset({"officer", "street_admin", "admin"}),
    "action:resolve": frozenset({"officer", "street_admin", "admin"}),
    "action:dispute": frozenset({"officer", "street_admin", "admin"}),
    "action:return": frozenset({"street_admin", "admin"}),
    "action:redispatch": frozenset({"operator", "street_admin", "admin"}),
    "action:callback": frozenset({"operator", "street_admin", "admin"}),
    "action:close": frozenset({"operator", "street_admin", "admin"}),
    "action:reopen": frozenset({"operator", "street_admin", "admin"}),
    "action:settle": frozenset({"planner", "admin"}),
}


def check_roles(roles: Iterable[str]) -> list[str]:
    """The roles, validated (unknown names are an error naming the known ones)."""
    out = []
    for r in roles:
        r = str(r).strip()
        if r not in ROLES:
            raise InputError(f"unknown role {r!r}; roles: {', '.join(ROLES)}", code="unknown_role")
        if r not in out:
            out.append(r)
    if not out:
        raise InputError(f"give at least one role: {', '.join(ROLES)}", code="role_required")
    return out


def check_scope(roles: Iterable[str], scope: Iterable[str]) -> list[str]:
    """The scope, validated against the roles: scoped roles need one, city-wide roles cannot mix in."""
    codes = [str(c).strip() for c in scope if str(c).strip()]
    roles = list(roles)
    scoped = [r for r in roles if r in SCOPED_ROLES]
    if scoped and not codes:
        raise InputError(
            f"role(s) {', '.join(scoped)} need the unit(s) they are limited to (--unit CODE)",
            code="scope_required",
        )
    wide = [r for r in roles if r not in SCOPED_ROLES and r != "public"]
    if codes and wide:
        raise InputError(
            f"role(s) {', '.join(wide)} are city-wide and cannot be limited to units; "
            "give scoped and city-wide roles to separate accounts",
            code="scope_not_allowed",
        )
    return codes


@dataclass(frozen=True)
class Principal:
    """Who is asking: ``kind`` is ``user``, ``key`` or ``anonymous``; ``scope`` empty = city-wide."""

    kind: str
    name: str
    roles: frozenset[str] = frozenset({"public"})
    scope: tuple[str, ...] = ()
    exempt: bool = False  # a trusted system key: no rate limit (settings.rate_limit_exempt_keys)

    @property
    def actor(self) -> str:
        """How the principal is written in events and audit rows."""
        return f"{self.kind}:{self.name}"

    @property
    def authenticated(self) -> bool:
        return self.kind != "anonymous"

    def can(self, permission: str) -> bool:
        return bool(self.roles & PERMISSIONS.get(permission, frozenset()))

    @property
    def petition_scope(self) -> tuple[str, ...] | None:
        """Unit codes limiting the petitions seen, or None for the whole city."""
        return self.scope if self.scope else None


ANONYMOUS = Principal("anonymous", "-")


def principal_for(
    kind: str, name: str, roles: Iterable[str], scope: Iterable[str], exempt: bool = False
) -> Principal:
    return Principal(kind, name, frozenset(roles) | {"public"}, tuple(scope), exempt)


def in_scope(chain: Iterable[str], scope: tuple[str, ...] | None) -> bool:
    """Is a unit (given its chain of codes, itself first) inside ``scope`` (None = everything)?"""
    return scope is None or bool(set(chain) & set(scope))


# ---- passwords (argon2 through pwdlib) --------------------------------------------------------------


@lru_cache(maxsize=1)
def _hasher() -> Any:
    from pwdlib import PasswordHash

    return PasswordHash.recommended()


MIN_PASSWORD = 10


_COMMON = frozenset(
    {
        "password123",
        "passw0rd123",
        "qwertyuiop",
        "1qaz2wsx3edc",
        "qwerty1234",
        "abc1234567",
        "iloveyou12",
        "admin12345",
        "administrator",
        "woaini1314",
        "password1234",
    }
)


def password_problem(password: str, username: str = "") -> str | None:
    """Why ``password`` is too easy to guess, or None: under MIN_PASSWORD characters, fewer than 4
    different characters (``aaaaaaaaaa``), a run of consecutive keys or digits (``1234567890``,
    ``abcdefghij``, ``qwertyuiop``), a well-known password, or the user name in it.

    >>> password_problem("aaaaaaaaaa"), password_problem("1234567890") is not None
    ('it has fewer than 4 different characters', True)
    >>> password_problem("春眠不觉晓-处处闻啼鸟") is None
    True
    """
    if len(password) < MIN_PASSWORD:
        return f"it has fewer than {MIN_PASSWORD} characters"
    low = password.lower()
    if len(set(low)) < 4:
        return "it has fewer than 4 different characters"
    for run in (
        "01234567890",
        "09876543210",
        "abcdefghijklmnopqrstuvwxyz",
        "qwertyuiop",
        "asdfghjkl",
        "zxcvbnm",
    ):
        if low in run or low in run[::-1]:
            return "it is a run of consecutive keys"
    if low in _COMMON:
        return "it is a well-known password"
    if username and len(username) >= 3 and username_key(username) in username_key(password):
        return "it contains the user name"
    return None


def username_key(name: str) -> str:
    """The form two user names are compared in: NFKC, case-folded, every dash-like character a
    hyphen (``Demo‐Street`` with U+2010 and ``demo-street`` are the same name)."""
    import unicodedata

    key = unicodedata.normalize("NFKC", name).casefold()
    return "".join("-" if unicodedata.category(ch) == "Pd" or ch == "\u2212" else ch for ch in key)


def hash_password(password: str, username: str = "") -> str:
    problem = password_problem(password, username)
    if problem:
        raise InputError(f"the password is too easy to guess: {problem}", code="weak_password")
    return str(_hasher().hash(password))


# a hash of a throwaway password: unknown users are verified against it so timing does not tell
_DUMMY: list[str] = []


def verify_password(password: str, password_hash: str | None) -> bool:
    """True when ``password`` matches; an unknown user (hash None) costs the same time."""
    if password_hash is None:
        if not _DUMMY:
            _DUMMY.append(str(_hasher().hash("not-a-real-password-000")))
        _hasher().verify(password, _DUMMY[0])
        return False
    try:
        return bool(_hasher().verify(password, password_hash))
    except Exception:  # a malformed stored hash never logs anyone in
        return False


# ---- tokens (JWT through PyJWT) ---------------------------------------------------------------------

ALGORITHM = "HS256"
ISSUER = "gridgov"


def make_token(username: str, secret: str, minutes: int, now: dt.datetime | None = None) -> str:
    import jwt

    t = now or dt.datetime.now(dt.UTC)
    claims = {"sub": username, "iss": ISSUER, "iat": t, "exp": t + dt.timedelta(minutes=minutes)}
    return str(jwt.encode(claims, secret, algorithm=ALGORITHM))


def read_token(token: str, secret: str) -> str:
    """The username a valid token names; expired, forged or malformed tokens are 401."""
    import jwt

    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=ISSUER, options={"require": ["sub", "exp", "iat"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the token has expired: log in again", code="token_expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("the token is not valid", code="invalid_token") from exc
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise Unauthorized("the token is not valid", code="invalid_token")
    return sub
