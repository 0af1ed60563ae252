"""Helpers for the central tests: synthetic devices that build chains by hand, and small checks."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import sqlalchemy as sa
from pydantic import ValidationError
from store_rows import rows

from app.services import enrollment
from app.services import patients as pt
from app.services import tasks as ts
from app.services.demo import example_answers, synthetic_census
from sync.canonical import GENESIS_HASH, canonical_json, event_hash
from sync.central.db import CentralDB, devices, events, quarantine
from sync.central.enroll import create_token
from sync.checkpoint import new_signing_key, public_key_text, sign_checkpoint, sign_enrollment
from sync.events import new_id, seal
from sync.grants import first_admin_text, grant_text, sign
from sync.payloads import PAYLOADS

NOW = "2026-11-25T08:00:00.000Z"
PASSWORD = "correct horse battery staple ward seven"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def counts(db: CentralDB) -> dict:
    """What the central holds: rows per table that a refused request must leave alone."""
    out = {}
    with db.read() as conn:
        for table in ("events", "quarantine", "checkpoints", "conflicts", "enroll_tokens", "devices", "receipts"):
            out[table] = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
        out["heads"] = sorted(conn.execute(sa.text("SELECT device_id, head_seq FROM devices")).all())
        out["used_tokens"] = conn.execute(sa.text(
            "SELECT count(*) FROM enroll_tokens WHERE used_at IS NOT NULL")).scalar_one()
    return out


def held_event_ids(db: CentralDB, device_id: str | None = None) -> list[str]:
    with db.read() as conn:
        q = sa.select(events.c.event_id)
        if device_id:
            q = q.where(events.c.device_id == device_id)
        return [r[0] for r in conn.execute(q)]


def quarantined(db: CentralDB) -> list[dict]:
    with db.read() as conn:
        return [dict(r) for r in conn.execute(sa.select(quarantine.c.event_id, quarantine.c.result,
                                                        quarantine.c.reason, quarantine.c.device_seq)).mappings()]


def enroll_store(store, url: str, db: CentralDB, transport=None) -> dict:
    token, _ = create_token(db, store.site_id, store.unit_id)
    return enrollment.enroll(store, url, token, transport=transport)


def record_past_the_store(store, type_: str, payload: dict, actor: dict | None = None,
                          fields: dict | None = None):
    """What someone with the data key can do past the store's checks: append a well-chained event."""
    from app.store import eventlog
    from app.store.database import transaction

    with transaction(store.db):
        ev = eventlog._seal(store, type_, payload, actor, fields or {}, eventlog.read_head(store.db, store.device_id))
        eventlog.append(store, ev)
        store._projector.flush()
    store._projector.forget()
    store._head = eventlog.read_head(store.db, store.device_id)
    return ev


def capture(store, workflow: str = "ed_triage", patient: str = "P100001") -> str:
    if not rows(store, "SELECT 1 FROM patients WHERE patient_id = ?", [patient]):
        pt.import_census(store, synthetic_census(4, store.unit_id))
    return ts.capture_task(store, workflow, patient, example_answers(workflow)).task_id


SYSTEM = {"user_id": "system", "display_name": "Tideover workstation", "role": "admin"}


class FakeDevice:
    """A device that makes its own chain, for pushing exactly the events a test needs."""

    def __init__(self, site: str = "st-marys", unit: str = "ward-7"):
        self.key = new_signing_key()
        self.device_id = new_id()
        self.site, self.unit = site, unit
        self.seq, self.head = 0, GENESIS_HASH
        self.credential: str | None = None
        self.made: list[dict] = []

    @property
    def public_key(self) -> str:
        return public_key_text(self.key)

    def enroll_body(self, token: str, key=None) -> dict:
        """An enrollment request signed with ``key`` (default: the device's own key)."""
        body = {"token": token, "device_id": self.device_id, "site_id": self.site, "unit_id": self.unit,
                "public_key": self.public_key}
        return {**body, "proof": sign_enrollment(key or self.key, body)}

    def enroll(self, client, db: CentralDB) -> None:
        token, _ = create_token(db, self.site, self.unit)
        resp = client.post("/v1/enroll", json=self.enroll_body(token))
        assert resp.status_code == 200, resp.text
        self.credential = resp.json()["credential"]

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.credential}"}

    # Acts as break-glass (a nurse), the one person every device has without a grant, so tests about
    # chains and answers need no grants; ``genesis``, ``grant`` and ``acting_as`` make real ones.
    actor = {"user_id": "break-glass", "display_name": "Break-glass: synthetic", "role": "nurse"}
    user_keys: dict | None = None

    def genesis(self, admin: str = "ada") -> dict:
        """device.initialized vouching for ``admin``'s key, then that admin's self-signed grant."""
        self.user_keys = {admin: new_signing_key()}
        admin_public = public_key_text(self.user_keys[admin])
        first = {"user_id": admin, "public_key": admin_public,
                 "signature": sign(self.key, first_admin_text(self.device_id, admin, admin_public))}
        init = self.event("device.initialized", {"public_key": self.public_key, "first_admin": first},
                          actor=SYSTEM)
        return [init, self.grant(admin, "admin", by=admin)]

    def grant(self, user_id: str, role: str, by: str = "ada", key=None, type_: str = "user.added") -> dict:
        """A role grant signed by ``by``'s key (or ``key``), recorded as ``by``."""
        self.user_keys.setdefault(user_id, new_signing_key())
        event_id = new_id()
        payload = {"user_id": user_id, "display_name": user_id.title(), "role": role,
                   "public_key": public_key_text(self.user_keys[user_id]), "granted_by": by}
        payload["signature"] = sign(key or self.user_keys[by], grant_text(self.device_id, event_id, payload))
        by_role = "admin" if by != user_id or role == "admin" else role
        return self.event(type_, payload, event_id=event_id,
                          actor={"user_id": by, "display_name": by.title(), "role": by_role})

    def acting_as(self, user_id: str, role: str) -> None:
        self.actor = {"user_id": user_id, "display_name": user_id.title(), "role": role}

    def _fields(self, type_: str, payload: dict, **extra) -> dict:
        self.seq += 1
        base = {"event_id": new_id(), "type": type_, "site_id": self.site, "unit_id": self.unit,
                "device_id": self.device_id, "device_seq": self.seq, "actor": dict(self.actor),
                "occurred_at": NOW, "recorded_at": NOW, "hlc": f"{1764057600000 + self.seq:013d}.00000",
                "source": f"workstation:{self.device_id}", "correlation_id": new_id(), "mode": "synthetic",
                "payload": payload}
        base.update(extra)
        return base

    def event(self, type_: str, payload: dict, **extra) -> dict:
        """A valid event, sealed and chained."""
        body = seal(self._fields(type_, payload, **extra), self.head).body()
        self.head = body["hash"]
        self.made.append(body)
        return body

    def raw_event(self, type_: str, payload: dict, **extra) -> dict:
        """An event chained and hashed correctly but not checked for meaning (may be invalid).

        Keys the test leaves out are written as a workstation writes them (null, or the payload's
        defaults when the payload fits its type), so only the fault the test puts in is there."""
        body = {"schema_version": 1, "workflow": None, "task_id": None, "base_version": None,
                "destination": None, "causation_id": None, **self._fields(type_, payload, **extra)}
        body["actor"] = {"on_behalf_of": None, **body["actor"]}
        model = PAYLOADS.get(type_)
        if model is not None and isinstance(payload, dict):
            try:
                body["payload"] = {**model.model_validate(payload).model_dump(mode="json"), **payload}
            except ValidationError:
                pass
        body["prev_hash"] = self.head
        body["hash"] = event_hash(body)
        self.head = body["hash"]
        self.made.append(body)
        return body

    def init_event(self) -> dict:
        return self.event("device.initialized", {"public_key": self.public_key}, actor=SYSTEM)

    def task(self, task_id: str | None = None, **extra) -> dict:
        task_id = task_id or new_id()
        return self.event("task.created", {"patient_id": "P100001", "answers": {"resourceType": "x"},
                                           "summary": "synthetic"}, workflow="ed_triage", task_id=task_id,
                          base_version=0, **extra)

    def transition(self, task_id: str, base_version: int, to: str = "accepted", frm: str = "requested") -> dict:
        return self.event("task.transitioned", {"from_status": frm, "to_status": to}, workflow="ed_triage",
                          task_id=task_id, base_version=base_version)

    def batch(self, bodies: list[dict], backlog: int = 0, key=None) -> dict:
        last = max(bodies, key=lambda b: b["device_seq"])
        cp = sign_checkpoint(key or self.key, self.device_id, last["device_seq"], last["hash"], NOW)
        return {"device_id": self.device_id, "checkpoint": cp.model_dump(), "events": bodies, "backlog": backlog}

    def push(self, client, bodies: list[dict], **kw):
        return client.post("/v1/push", content=json.dumps(self.batch(bodies, **kw)), headers=self.auth)


class ThreadServer:
    """The real central app under uvicorn on a loopback port, in a thread of the test process."""

    def __init__(self, app, port: int | None = None):
        import uvicorn

        self.port = port or free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                   access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the central did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


class Redirect(httpx.HTTPTransport):
    """Sends every request to another loopback port, whatever URL the workstation asked for: a load
    balancer in front of several servers, or an attacker answering on the workstation's central URL."""

    def __init__(self, port: int):
        super().__init__()
        self.port = port

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(host="127.0.0.1", port=self.port)
        return super().handle_request(request)


# -- an event an older central took that workstations cannot take ---------------------------------
MARKER = "Zztest-Setaside-Marker"


def store_at_central(db, dev: FakeDevice, body: dict) -> None:
    """Write ``body`` as the device's next held event straight into the central's database, as an
    older central that took it would have (the chain goes on from it)."""
    text = canonical_json({k: v for k, v in body.items() if k != "hash"})[:-1] + f',"hash":"{body["hash"]}"}}'
    with db.write() as conn:
        conn.execute(sa.insert(events).values(
            event_id=body["event_id"], device_id=dev.device_id, device_seq=body["device_seq"], site_id=dev.site,
            unit_id=dev.unit, type=body["type"], workflow=body.get("workflow"), task_id=body.get("task_id"),
            base_version=body.get("base_version"), hash=body["hash"], result="accepted", received_at=NOW, body=text))
        conn.execute(sa.update(devices).where(devices.c.device_id == dev.device_id).values(
            head_seq=body["device_seq"], head_hash=body["hash"]))


def untakeable(dev: FakeDevice) -> dict:
    """A task note chained and hashed correctly but without ``causation_id`` (not in canonical form)."""
    body = dev.event("task.note_added", {"text": f"{MARKER} called the lab"}, workflow="ed_triage",
                     task_id="t-lost", base_version=1)
    body = {k: v for k, v in body.items() if k not in ("causation_id", "hash")}
    body["hash"] = event_hash(body)
    dev.head = body["hash"]
    dev.made[-1] = body
    return body


def held_at_central_untakeable(url: str, db: CentralDB) -> tuple[FakeDevice, dict, dict, dict]:
    """A device whose chain at the central holds an untakeable event between two good ones, as an
    older central left it: (device, before, bad, after)."""
    dev = FakeDevice()
    with httpx.Client(base_url=url) as client:
        dev.enroll(client, db)
        before = dev.task()
        assert dev.push(client, [before]).status_code == 200
        bad = untakeable(dev)
        store_at_central(db, dev, bad)
        after = dev.task()
        assert dev.push(client, [after]).status_code == 200
    return dev, before, bad, after


def push_answers(resp: httpx.Response) -> list[tuple[int, str, str | None]]:
    """(device_seq, result, reason) of each event in a push's answer."""
    assert "results" in resp.json(), resp.text
    return [(r["device_seq"], r["result"], r["reason"]) for r in resp.json()["results"]]
