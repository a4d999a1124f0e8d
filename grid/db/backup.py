"""``gridgov backup`` / ``gridgov restore``: the whole database through pg_dump / pg_restore.

A backup is PostgreSQL's custom format (``pg_dump -Fc``: compressed, restorable table by table),
written to a temporary file and renamed into place only when pg_dump succeeded, so a failed or
interrupted backup never leaves a file that looks whole. A restore replaces the database's
objects in one transaction (``pg_restore --clean --if-exists --single-transaction``): it is
either fully there or not at all. Extensions (PostGIS) are left as they are: creating or
dropping them needs a superuser, and the target database must already have them (``make
setup`` / ``scripts/bootstrap`` creates them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from grid.errors import ConfigError, InputError

__all__ = ["backup", "restore"]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ConfigError(
            f"{name} is not installed: apt-get install -y postgresql-client (scripts/bootstrap does)",
            code="missing_tool",
        )
    return path


def _conn(url: str) -> tuple[list[str], dict[str, str]]:
    """libpq arguments and environment for ``url`` (the password goes through PGPASSWORD)."""
    u = make_url(url)
    args = ["--dbname", str(u.database or "")]
    if u.host:
        args += ["--host", str(u.host)]
    if u.port:
        args += ["--port", str(u.port)]
    if u.username:
        args += ["--username", str(u.username)]
    env = {**os.environ}
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    return args, env


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        msg = (r.stderr or r.stdout).strip().splitlines()
        raise InputError(
            f"{what} failed: {msg[-1] if msg else f'exit {r.returncode}'}",
            code=f"{what.split()[0]}_failed",
            details={"stderr": r.stderr[-2000:]},
        )


def backup(url: str, out: Path) -> dict[str, Any]:
    """Dump the database at ``url`` to ``out`` (custom format); the file appears only when whole."""
    out = Path(out)
    if out.is_dir():
        raise InputError(f"{out} is a directory: give a file name, e.g. gridgov.dump", code="invalid_path")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    args, env = _conn(url)
    try:
        _run(
            [_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", "--file", str(tmp), *args],
            env,
            "pg_dump backup",
        )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {"path": str(out), "bytes": out.stat().st_size}


def restore(url: str, path: Path) -> dict[str, Any]:
    """Replace the database at ``url`` with the backup ``path``, in one transaction."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no backup file {path}", code="file_not_found")
    args, env = _conn(url)
    listing = subprocess.run(
        [_tool("pg_restore"), "--list", str(path)], env=env, capture_output=True, text=True, check=False
    )
    if listing.returncode != 0:
        raise InputError(f"{path} is not a gridgov backup (pg_restore cannot read it)", code="invalid_backup")
    # everything but the extensions and their own tables (PostGIS's spatial_ref_sys): they belong to
    # the superuser who created them and are there already
    keep = [
        line
        for line in listing.stdout.splitlines()
        if " EXTENSION " not in line and "spatial_ref_sys" not in line
    ]
    toc = path.with_name(f".{path.name}.toc")
    toc.write_text("\n".join(keep) + "\n", encoding="utf-8")
    try:
        _run(
            [
                _tool("pg_restore"),
                "--clean",
                "--if-exists",
                "--single-transaction",
                "--exit-on-error",
                "--no-owner",
                "--no-privileges",
                "--use-list",
                str(toc),
                *args,
                str(path),
            ],
            env,
            "pg_restore restore",
        )
    finally:
        toc.unlink(missing_ok=True)
    entries = sum(1 for line in keep if line and not line.startswith(";"))
    return {"path": str(path), "entries": entries}
