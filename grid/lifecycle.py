"""The life of a petition: its statuses, the actions that move it, and what each action needs.

Pure: no database. :func:`check` says whether an action is allowed from a status and returns the
status it leads to, or raises :class:`~grid.errors.Conflict` (HTTP 409, code
``invalid_transition``) with the actions that *are* allowed; missing inputs raise
:class:`~grid.errors.InputError` with a stable code.

Main line (接诉即办)::

    received -> dispatched -> accepted -> in_progress -> resolved -> callback -> closed

and the side roads:

* ``needs_location``: it needs a place and none could be found; it waits in the triage queue
  until an operator ``locate``\\ s it, which dispatches it.
* ``returned`` (退单): the receiving unit says it is not theirs (a reason is required); the
  ``redispatch`` action sends it on, along the owner chain or by a ruling.
* ``disputed``: two units contest it; a planner ``settle``\\ s it with a ruling, which dispatches it.
* ``merged``: a duplicate ("me too") of another open petition; ``unmerge`` puts it back.

Closing needs a recorded callback (回访): whether the problem was resolved and how satisfied the
resident is, or the reason no callback was possible (e.g. the resident declined). ``resolve``
records the handling unit's answer: its time is the petition's ``answered_at``, the time the
response rate judges against the deadline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from grid.errors import Conflict, InputError

__all__ = [
    "ACTIONS",
    "ANSWERED",
    "INTAKE_COLUMNS",
    "INTAKE_REQUIRED",
    "OPEN",
    "SATISFACTION",
    "STATUSES",
    "Action",
    "allowed_actions",
    "check",
]

STATUSES = (
    "received",
    "needs_location",
    "dispatched",
    "accepted",
    "in_progress",
    "resolved",
    "callback",
    "closed",
    "returned",
    "disputed",
    "merged",
)
# not yet answered by the handling unit: the deadline clock runs
OPEN = frozenset(
    {"received", "needs_location", "dispatched", "accepted", "in_progress", "returned", "disputed"}
)
# answered (the response is on record)
ANSWERED = frozenset({"resolved", "callback", "closed"})
SATISFACTION = ("satisfied", "basically_satisfied", "unsatisfied")

#: The columns of a petitions CSV (``gridgov import petitions``; the sample city writes them in this
#: order): ``INTAKE_REQUIRED`` must be there, the others may. Other columns are kept, never read.
INTAKE_COLUMNS = (
    "external_id",
    "received_at",
    "channel",
    "type",
    "category",
    "urgency",
    "text",
    "address",
    "lon",
    "lat",
    "datum",
    "contact_name",
    "contact_phone",
    "contact_email",
)
INTAKE_REQUIRED = ("text", "category")


@dataclass(frozen=True)
class Action:
    name: str
    sources: frozenset[str]
    target: str  # "*" = decided by the service (e.g. dispatch may end in needs_location)
    needs: tuple[str, ...] = ()  # body fields that must be present and non-empty
    label: str = ""


def _a(name: str, sources: set[str], target: str, needs: tuple[str, ...] = (), label: str = "") -> Action:
    return Action(name, frozenset(sources), target, needs, label)


ACTIONS: Mapping[str, Action] = {
    a.name: a
    for a in (
        _a("dispatch", {"received"}, "*", (), "locate and send to the owner (system)"),
        _a("locate", {"needs_location", "received"}, "dispatched", (), "an operator places it (triage)"),
        _a("accept", {"dispatched"}, "accepted", (), "the lead unit takes it (签收)"),
        _a("start", {"accepted"}, "in_progress", (), "work has started"),
        _a("resolve", {"accepted", "in_progress"}, "resolved", ("note",), "the unit's answer (办结)"),
        _a("callback", {"resolved"}, "callback", (), "the call back to the resident (回访)"),
        _a("close", {"callback"}, "closed", (), "close (结案)"),
        _a("return", {"dispatched", "accepted"}, "returned", ("note",), "not ours (退单), with a reason"),
        _a("redispatch", {"returned"}, "dispatched", (), "send on along the owner chain or by a ruling"),
        _a("dispute", {"dispatched", "accepted", "returned"}, "disputed", ("note",), "ownership contested"),
        _a("settle", {"disputed"}, "dispatched", ("owner_code", "note"), "a planner's ruling decides"),
        _a(
            "merge",
            {"received", "needs_location", "dispatched", "accepted", "in_progress", "returned"},
            "merged",
            ("duplicate_of",),
            "a duplicate of another petition",
        ),
        _a("unmerge", {"merged"}, "dispatched", ("note",), "not a duplicate after all"),
        _a("reopen", {"resolved", "callback"}, "in_progress", ("note",), "the answer was not enough"),
    )
}


def allowed_actions(status: str) -> list[str]:
    """The actions allowed from ``status``, in a stable order."""
    return [name for name, a in ACTIONS.items() if status in a.sources]


def check(status: str, action: str, body: Mapping[str, object] | None = None) -> str:
    """The status ``action`` leads to from ``status`` ("*" when the service decides), or an error."""
    a = ACTIONS.get(action)
    if a is None:
        raise InputError(
            f"unknown action {action!r}; actions: {', '.join(ACTIONS)}",
            code="unknown_action",
        )
    if status not in a.sources:
        allowed = allowed_actions(status)
        raise Conflict(
            f"cannot {action} a petition that is {status}; allowed: {', '.join(allowed) or 'none'}",
            code="invalid_transition",
            details={"status": status, "action": action, "allowed": allowed},
        )
    body = body or {}
    for field in a.needs:
        v = body.get(field)
        if v is None or (isinstance(v, str) and not v.strip()):
            raise InputError(f"{action} needs {field!r}", code=f"{field}_required")
    if action == "callback":
        none_reason = body.get("none_reason")
        resolved, satisfaction = body.get("resolved"), body.get("satisfaction")
        if none_reason:
            if resolved is not None or satisfaction is not None:
                raise InputError(
                    "a callback either records the resident's answers or why none was possible, not both",
                    code="invalid_callback",
                )
        else:
            if resolved is None or satisfaction is None:
                raise InputError(
                    "a callback needs 'resolved' (true/false) and 'satisfaction' "
                    f"({' / '.join(SATISFACTION)}), or 'none_reason' when no callback was possible",
                    code="callback_required",
                )
            if satisfaction not in SATISFACTION:
                raise InputError(
                    f"satisfaction must be one of {', '.join(SATISFACTION)}", code="invalid_satisfaction"
                )
    return a.target
