"""Central accepts <=> a workstation accepts, for real events mutated in the ways a faulty or hostile
device could: keys dropped or added, null for absent, non-ASCII digits, whitespace, number forms,
huge strings, unknown types and changes to the actor. The central's side is its real ingest path
(the bytes of a push decoded, checked and written: ``take_push``); the workstation's side is a real
SQLCipher store taking the event as a pull would hand it over (``Store.ingest_remote``)."""

from __future__ import annotations

import json

import sqlalchemy as sa
from central_helpers import FakeDevice
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ingest_rules import JSON, ODD, _near, _paths, _value_at

from app.services import patients as pt
from app.services import tasks as ts
from app.services.demo import example_answers, synthetic_census
from app.store import eventlog
from sync.canonical import event_hash
from sync.central.app import take_push
from sync.central.db import events
from sync.central.enroll import authenticate, create_token, enroll, load_keys
from sync.central.errors import Refused
from sync.clock import Clock
from sync.errors import TideoverError
from sync.events import new_id
from sync.grants import ACTOR_NOT_GRANTED
from sync.protocol import EnrollRequest, is_shared_type
from sync.validity import parse_event

HUGE = "Zztest " * 20_000
TYPES = ["task.exploded", "", "TASK.CREATED", "task.created ", "user.added", "access.view", "census.loaded",
         "task.note_added", "patient.linked"]


def real_events(store) -> list[dict]:
    """Events a real workstation made: census, a temporary patient, a task and its life."""
    pt.import_census(store, synthetic_census(3, store.unit_id))
    temp, _ = pt.register_temp_patient(store, "Zztest-Nobody", "Unknown A")
    task = ts.capture_task(store, "ed_triage", "P100001", example_answers("ed_triage")).task_id
    ts.transition_task(store, task, "accepted")
    ts.add_note(store, task, "called the lab, results in 20 minutes")
    pt.link_temp_patient(store, temp, "P100002", reason="wristband found")
    # As the break-glass nurse, whom every device has without a grant: the central's check of who
    # may act on a device (sync.grants) is device trust, not the validity of the event.
    own = [json.loads(b) for b in eventlog.own_bodies(store)]
    return [{**b, "actor": {**FakeDevice.actor, "on_behalf_of": None}} for b in own
            if not b["type"].startswith(("access.", "user.", "device."))]


@st.composite
def mutated(draw, bases):
    ev = json.loads(json.dumps(draw(st.sampled_from(bases))))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(ev) if isinstance(ev.get("actor"), dict) and isinstance(ev.get("payload"), dict) \
            else [(k,) for k in ev]
        paths = [p for p in paths if p[0] not in ("hash", "prev_hash", "device_id", "site_id", "unit_id",
                                                  "device_seq", "event_id")]
        path = draw(st.sampled_from(paths))
        near = st.sampled_from(_near(_value_at(ev, path)))
        special = st.sampled_from([HUGE, *TYPES]) if path == ("type",) else st.sampled_from([HUGE, " "])
        value = draw(st.one_of(near, near, near, JSON, ODD, special))
        where = ev
        for key in path[:-1]:
            where = where[key]
        op = draw(st.sampled_from(["drop", "add", "set", "set", "set"]))
        if op == "drop":
            where.pop(path[-1], None)
        elif op == "add":
            where[draw(st.sampled_from(["extra", "Hash", "eventId", " type"]))] = value
        else:
            where[path[-1]] = value
    return ev


class Pusher:
    """A device the central knows, whose chain goes on from each answer (a refused batch: a new device)."""

    def __init__(self, db, keys):
        self.db, self.keys = db, keys
        self.new_device()

    def new_device(self) -> None:
        self.fake = FakeDevice()
        token, _ = create_token(self.db, self.fake.site, self.fake.unit)
        answer = enroll(self.db, EnrollRequest(**self.fake.enroll_body(token)), self.keys)
        self.device = authenticate(self.db, f"Bearer {answer.credential}")

    def as_mine(self, ev: dict) -> dict:
        """``ev`` as the next event of this device's chain (a fresh id, linked and hashed)."""
        body = {**ev, "event_id": new_id(), "device_id": self.fake.device_id,
                "site_id": self.fake.site, "unit_id": self.fake.unit, "device_seq": self.fake.seq + 1,
                "prev_hash": self.fake.head}
        body.pop("hash", None)
        body["hash"] = event_hash(body) if _hashable(body) else "0" * 64
        return body

    def central_accepts(self, body: dict) -> bool:
        raw = json.dumps(self.fake.batch([body])).encode()
        try:
            outcome = take_push(self.db, self.device, raw, Clock())
        except Refused:
            self.new_device()  # nothing was written: start a chain the central will link
            return False
        self.fake.seq, self.fake.head = body["device_seq"], body["hash"]
        with self.db.read() as conn:
            stored = conn.execute(sa.select(events.c.body).where(events.c.event_id == body["event_id"])).scalar()
        accepted = outcome.results[0]["result"] in ("accepted", "conflict")
        assert accepted == (stored is not None)
        self.last_reason = outcome.results[0]["reason"]
        return accepted


def _hashable(body: dict) -> bool:
    try:
        event_hash(body)
    except TideoverError:
        return False
    return True


def workstation_accepts(store, body: dict) -> bool:
    wire = json.loads(json.dumps(body))  # as a pull page hands it over
    before = eventlog.event_count(store)
    try:
        eventlog.ingest_remote(store, [wire])
    except TideoverError:
        return False
    taken = eventlog.event_count(store) > before
    if not is_shared_type(str(body.get("type"))):  # never pulled: what the workstation's check says
        try:
            parse_event(wire)
        except TideoverError:
            return False
        return True
    return taken


def test_the_central_accepts_an_event_exactly_when_a_workstation_would(central_db, make_store):
    maker, reader = make_store("maker"), make_store("reader")
    bases = real_events(maker)
    pusher = Pusher(central_db, load_keys(central_db))
    seen = {"accepted": 0, "refused": 0}

    @settings(max_examples=250, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(mutated(bases))
    def check(ev):
        body = pusher.as_mine(ev)
        pusher.last_reason = None
        central = pusher.central_accepts(body)
        workstation = workstation_accepts(reader, body)
        if pusher.last_reason == ACTOR_NOT_GRANTED:  # device trust, after the rule: the rule passed it
            central = True
        seen["accepted" if central else "refused"] += 1
        assert central == workstation, (central, workstation, body)

    check()
    assert seen["accepted"] >= 10 and seen["refused"] >= 10, seen
