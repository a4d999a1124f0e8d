"""docs/ERRORS.md is the one table of error codes: every code the sources can answer is in it with
its HTTP status, and it lists no code that nothing uses.

The codes are read from the sources (ast, no import of the modules): ``code="..."`` in every call
of an error class of :mod:`grid.errors` (the status is that class's), ``code = "a" if ... else "b"``
relayed through a name, the defaults of the classes in grid/errors.py, hand-written answers
(``{"error": ..., "code": "..."}`` with a status beside them), the status-to-code maps of
api/errors.py, codes built from a pattern (``f"{field}_required"`` is the row ``*_required``), and
the problems of a city-init plan (``{"kind": ..., "message": ...}``), which ``--yes`` answers with.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from grid import errors

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "docs" / "ERRORS.md"
PLAN_SOURCES = ("grid/cityinit.py", "grid/db/cityinit.py")  # the problems a city-init plan can have
CLI = "CLI"  # a code only the command line prints (``error [code]: message``)

ERROR_CLASSES = {
    name: cls
    for name, cls in vars(errors).items()
    if isinstance(cls, type) and issubclass(cls, errors.GridGovError)
}


def _sources() -> list[Path]:
    out = []
    for pkg in ("grid", "api"):
        out += [p for p in sorted((ROOT / pkg).rglob("*.py")) if "migrations" not in p.parts]
    return out


def _callee(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _pattern(node: ast.JoinedStr) -> str:
    return "".join(str(v.value) if isinstance(v, ast.Constant) else "*" for v in node.values)


def _constants(node: ast.expr) -> list[str]:
    """The strings an expression can be: a constant, or either branch of ``a if c else b``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _constants(node.body) + _constants(node.orelse)
    return []


def _scope_of(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.AST:
    while node in parents and not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        node = parents[node]
    return node


def _names_assigned(func: ast.AST, name: str) -> list[str]:
    """The strings ``name`` is assigned in ``func`` (``code = "a" if c else "b"``)."""
    out = []
    for n in ast.walk(func):
        if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in n.targets):
            out += _constants(n.value)
    return out


def _status_beside(d: ast.Dict, parents: dict[ast.AST, ast.AST]) -> str | None:
    """The ``status_code=`` of the call a hand-written answer is given to."""
    call = parents.get(d)
    if isinstance(call, ast.Call):
        for k in call.keywords:
            if k.arg == "status_code" and isinstance(k.value, ast.Constant):
                return str(k.value.value)
    return None


def _keys(d: ast.Dict) -> list[object]:
    return [k.value if isinstance(k, ast.Constant) else None for k in d.keys]


def _error_call(n: ast.Call, rel: str, parents: dict[ast.AST, ast.AST], codes: dict[str, set[str]]) -> None:
    cls = ERROR_CLASSES.get(_callee(n) or "")
    if cls is None:
        return
    status = CLI if rel == "api/cli.py" else str(cls.status)
    for k in n.keywords:
        if k.arg != "code":
            continue
        if isinstance(k.value, ast.JoinedStr):
            found = [_pattern(k.value)]
        elif isinstance(k.value, ast.Name):
            found = _names_assigned(_scope_of(n, parents), k.value.id)
        else:
            found = _constants(k.value)
        for c in found:
            codes[c].add(status)


def _answer(d: ast.Dict, parents: dict[ast.AST, ast.AST], codes: dict[str, set[str]]) -> None:
    keys = _keys(d)
    if "error" in keys and "code" in keys:  # a hand-written {"error", "code"} answer
        for c in _constants(d.values[keys.index("code")]):
            codes[c].add(_status_beside(d, parents) or "?")
        return
    values = [v.value for v in d.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    if keys and all(isinstance(k, int) for k in keys) and len(values) == len(keys):  # {404: "not_found"}
        for k, c in zip(keys, values, strict=True):
            codes[c].add(str(k))
        call = parents.get(parents.get(d, d), d)  # ....get(status, "default")
        if isinstance(call, ast.Call) and len(call.args) == 2:
            for c in _constants(call.args[1]):
                codes[c].add("?")


def used_codes() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """code -> the statuses it is answered with (a class's status, a literal one, ``CLI``, or
    ``?`` when the sources do not say), and the same for plan problems."""
    codes: dict[str, set[str]] = defaultdict(set)
    for cls in ERROR_CLASSES.values():
        if "code" in vars(cls):
            codes[cls.code].add(str(cls.status))
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {c: p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
        for n in ast.walk(tree):
            if isinstance(n, ast.Call):
                _error_call(n, rel, parents, codes)
            elif isinstance(n, ast.Dict) and rel.startswith("api/"):
                _answer(n, parents, codes)
    plan: dict[str, set[str]] = defaultdict(set)
    for rel in PLAN_SOURCES:
        for n in ast.walk(ast.parse((ROOT / rel).read_text(encoding="utf-8"))):
            if isinstance(n, ast.Dict) and {"kind", "message"} <= set(_keys(n)):
                for c in _constants(n.values[_keys(n).index("kind")]):
                    plan[c].add(CLI)  # gridgov city init --yes
    return dict(codes), dict(plan)


ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*([^|]*)\|\s*([^|]*)\|\s*$")


def table() -> tuple[dict[str, str], dict[str, str]]:
    """code -> its status cell, for the codes table and for the plan-problems table."""
    sections: dict[str, dict[str, str]] = {"codes": {}, "plan": {}}
    current = None
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            current = "plan" if "plan" in line.lower() else "codes" if "codes" in line.lower() else None
            continue
        m = ROW.match(line)
        if m and current is not None:
            code, status, meaning = (g.strip() for g in m.groups())
            assert code not in sections[current], f"{code} is listed twice"
            assert meaning, f"{code} has no meaning"
            sections[current][code] = status
    return sections["codes"], sections["plan"]


def _check(used: dict[str, set[str]], listed: dict[str, str], what: str) -> None:
    missing = sorted(set(used) - set(listed))
    unused = sorted(set(listed) - set(used))
    assert not missing, f"{what}: used in the sources but not in docs/ERRORS.md: {missing}"
    assert not unused, f"{what}: in docs/ERRORS.md but used by no code: {unused}"
    wrong = {
        code: (sorted(statuses - {"?"}), listed[code])
        for code, statuses in used.items()
        if not all(s in re.findall(r"\d{3}|CLI", listed[code]) for s in statuses - {"?"})
    }
    assert not wrong, f"{what}: statuses the table does not name (used, listed): {wrong}"


def test_every_code_is_documented_and_every_documented_code_is_used() -> None:
    used, plan = used_codes()
    listed, listed_plan = table()
    assert len(used) > 100 and {"not_found", "invalid_input", "internal_error"} <= set(used)
    _check(used, listed, "codes")
    _check(plan, listed_plan, "plan problems")


def test_the_reader_sees_what_it_should(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The collector itself: a keyword, a relayed name and a pattern are found; a non-error call is not."""
    src = tmp_path / "grid" / "x.py"
    src.parent.mkdir()
    src.write_text(
        "def f(ok):\n"
        "    code = 'y_one' if ok else 'y_two'\n"
        "    Category(code='not_an_error')\n"
        "    raise NotFound('m', code=code)\n"
        "def g(field):\n"
        "    raise InputError('m', code=f'{field}_needed')\n"
        "    raise Conflict('m', code='x_conflict')\n",
        encoding="utf-8",
    )
    (tmp_path / "api").mkdir()
    for rel in PLAN_SOURCES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("P = {'kind': 'k_one', 'message': 'm'}\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    used, plan = used_codes()
    assert used["y_one"] == used["y_two"] == {"404"}
    assert used["*_needed"] == {"400"} and used["x_conflict"] == {"409"}
    assert "not_an_error" not in used
    assert set(plan) == {"k_one"}
