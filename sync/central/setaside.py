"""Events at the central that workstations cannot take: their reports, and holding an event back.

A workstation that cannot take a pulled event sets it aside and reports it here
(``POST /v1/set-aside``); ``tideover-central set-aside list`` shows the reports. IT can withhold a
stored event from every pull (``tideover-central withhold``): the withholding is its own audited,
append-only record, and the event itself stays where it is (``queries.pull_page`` leaves it out;
``queries.verify`` checks every stored event by the workstations' own rule, ``sync.validity``).
"""

from __future__ import annotations

import sqlalchemy as sa
from pydantic import ValidationError

from sync.clock import Clock
from sync.events import describe_validation
from sync.protocol import INVALID_REQUEST, SetAsideRequest

from .db import CentralDB, events, set_aside_reports, withheld
from .enroll import Device
from .errors import NotHere, Unprocessable


class NotHeld(NotHere):
    def __init__(self, event_id: str):
        super().__init__("not_held", f"The central holds no event {event_id[:64]}.")


def parse_reports(raw: object) -> list[dict]:
    """A decoded set-aside report checked against the wire model (``sync.protocol.SetAsideRequest``):
    ``{"reports": [{"event_id", "reason", "detail"}, ...]}``; anything else is a 422 naming the field."""
    try:
        request = SetAsideRequest.model_validate(raw)
    except ValidationError as err:
        raise Unprocessable(INVALID_REQUEST, "The set-aside report is not valid: "
                                            + describe_validation(err)) from None
    return [report.model_dump() for report in request.reports]


def record_reports(db: CentralDB, device: Device, reports: list[dict], clock: Clock) -> int:
    """Record what ``device`` could not take; only events of its own unit the central holds count.
    Returns how many reports are new."""
    now = clock.now_iso()
    ids = sorted({r["event_id"] for r in reports})
    with db.write() as conn:
        held = set(conn.execute(sa.select(events.c.event_id).where(
            events.c.event_id.in_(ids), events.c.site_id == device.site_id,
            events.c.unit_id == device.unit_id)).scalars())
        rows = [{"event_id": r["event_id"], "reported_by": device.device_id, "reason": r["reason"],
                 "detail": r["detail"], "reported_at": now} for r in reports if r["event_id"] in held]
        # One row a statement: each says whether it went in (the reports of one sync are few).
        return sum(conn.execute(db.insert_ignore(set_aside_reports), row).rowcount for row in rows)


def list_set_aside(db: CentralDB) -> list[dict]:
    """Every report of a workstation that could not take an event, oldest first, with where the event
    came from and whether it is withheld (no bodies: they can carry patient data)."""
    q = (sa.select(set_aside_reports.c.event_id, set_aside_reports.c.reported_by, set_aside_reports.c.reason,
                   set_aside_reports.c.detail, set_aside_reports.c.reported_at, events.c.device_id,
                   events.c.device_seq, events.c.type, events.c.site_id, events.c.unit_id,
                   withheld.c.withheld_at)
         .join(events, events.c.event_id == set_aside_reports.c.event_id)
         .outerjoin(withheld, withheld.c.event_id == set_aside_reports.c.event_id)
         .order_by(set_aside_reports.c.id))
    with db.read() as conn:
        rows = conn.execute(q).mappings().all()
    return [{**{k: v for k, v in r.items() if k != "withheld_at"}, "withheld": r["withheld_at"] is not None}
            for r in rows]


def withhold(db: CentralDB, event_id: str, reason: str, by: str, clock: Clock) -> dict:
    """Keep a stored event out of every pull from now on, with the reason and who decided: an
    append-only record; the event itself is not touched. Withholding it again changes nothing."""
    if not reason.strip():
        raise Unprocessable(INVALID_REQUEST, "Give the reason for withholding the event (--reason).")
    with db.write() as conn:
        found = conn.execute(sa.select(events.c.device_id, events.c.device_seq, events.c.type)
                             .where(events.c.event_id == event_id)).first()
        if found is None:
            raise NotHeld(event_id)
        conn.execute(db.insert_ignore(withheld), {"event_id": event_id, "reason": reason.strip()[:500],
                                                   "withheld_by": by[:64], "withheld_at": clock.now_iso()})
        row = conn.execute(sa.select(withheld).where(withheld.c.event_id == event_id)).mappings().one()
    return {**{k: v for k, v in row.items() if k != "id"}, "device_id": found.device_id,
            "device_seq": found.device_seq, "type": found.type}


def list_withheld(db: CentralDB) -> list[dict]:
    q = (sa.select(withheld.c.event_id, withheld.c.reason, withheld.c.withheld_by, withheld.c.withheld_at,
                   events.c.device_id, events.c.device_seq, events.c.type)
         .join(events, events.c.event_id == withheld.c.event_id).order_by(withheld.c.id))
    with db.read() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]
