"""Logging is configured once (api/logs.py): one line per record with the request id, key=value or
JSON; the app factory and the CLI install it; no other module configures logging."""

from __future__ import annotations

import ast
import io
import json
import logging
from pathlib import Path

import pytest

from api.guard import request_id
from api.logs import configure_logging

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), logging.getLogger("gridgov").level
    yield None
    root.handlers[:] = handlers
    logging.getLogger("gridgov").setLevel(level)


def _ours() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if type(h).__name__ == "_GridgovHandler"]


def test_a_record_is_one_key_value_line_with_the_request_id(restore_logging: object) -> None:
    buf = io.StringIO()
    configure_logging("INFO", fmt="text", stream=buf)
    token = request_id.set("req-7")
    try:
        logging.getLogger("gridgov.api").info("swept %d petition(s)", 3)
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("gridgov.api").exception("failed")
    finally:
        request_id.reset(token)
    logging.getLogger("gridgov.api").debug("below the level")
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2  # the traceback stays on its record's line; DEBUG is not written
    assert "level=INFO logger=gridgov.api request_id=req-7" in lines[0]
    assert lines[0].endswith('msg="swept 3 petition(s)"')
    assert "msg=failed exc=" in lines[1] and "ValueError: boom" in lines[1]


def test_json_lines_and_one_handler_however_often_it_is_called(restore_logging: object) -> None:
    first = io.StringIO()
    configure_logging("WARNING", fmt="json", stream=first)
    buf = io.StringIO()
    configure_logging("WARNING", fmt="json", stream=buf)
    assert len(_ours()) == 1
    logging.getLogger("gridgov.x").info("not written")
    logging.getLogger("gridgov.x").warning("written")
    rec = json.loads(buf.getvalue())
    assert rec["msg"] == "written" and rec["level"] == "WARNING" and rec["request_id"] == "-"
    assert first.getvalue() == ""


def test_the_app_factory_configures_logging_from_the_settings(restore_logging: object) -> None:
    from api.app import create_app
    from grid.config import Settings

    logging.getLogger().handlers[:] = [h for h in logging.getLogger().handlers if h not in _ours()]
    create_app(Settings(environment="development", log_level="WARNING"), sweep=False)
    assert len(_ours()) == 1
    assert logging.getLogger("gridgov").level == logging.WARNING


def test_no_other_module_configures_logging() -> None:
    offenders = []
    for pkg in ("grid", "api", "maps", "data", "benchmarks"):
        for p in sorted((ROOT / pkg).rglob("*.py")):
            if p == ROOT / "api" / "logs.py":
                continue
            for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
                if (
                    isinstance(n, ast.Call)
                    and isinstance(n.func, ast.Attribute)
                    and n.func.attr in ("basicConfig", "dictConfig", "fileConfig")
                ):
                    offenders.append(f"{p.relative_to(ROOT)}:{n.lineno}")
    assert not offenders, f"logging is configured by api/logs.py only: {offenders}"
