"""`tideover-central verify` on a large central: every chain, every checkpoint and every stored event
by the workstations' rule (sync.validity), against a plain read of the same rows in the same run.

    python benchmarks/central_verify.py --events 1000000 --json
    python benchmarks/central_verify.py --events 1000000 --db postgresql://postgres@127.0.0.1:5432/bench

(``-P`` keeps this folder off sys.path.) Fills an empty central (a temporary SQLite file by default)
with a ward's mix spread over ``--devices`` devices, each chain ending in a signed checkpoint: per
task a ``task.created`` with the workflow's form answers and two ``task.transitioned``. Prints one
JSON object:
- ``verify_s``: ``sync.central.queries.verify`` over everything (what the command runs);
- ``raw_read_s``: the same event rows read in chain order, nothing checked; ``raw_parse_s``: read
  and each body decoded (orjson), the floor of any check that looks inside the events;
- ``verify_per_s``, ``ratio`` = raw_parse_s / verify_s; ``fill_s``; ``problems`` (0 expected).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path

import orjson
import sqlalchemy as sa

import forms
from app.services.demo import example_answers
from sync.canonical import GENESIS_HASH, canonical_bytes, normalize
from sync.central.db import CentralDB, checkpoints, devices, events
from sync.central.queries import verify
from sync.checkpoint import new_signing_key, public_key_text, sign_checkpoint
from sync.events import new_id

NOW = "2026-11-25T08:00:00.000Z"
MOVES = [("requested", "accepted"), ("accepted", "in-progress")]


def templates() -> list[tuple[str, dict, str]]:
    """(type, payload, workflow) of one task's three events per workflow."""
    out = []
    for w in forms.WORKFLOWS:
        answers = normalize(forms.validate_answers(w, example_answers(w)))
        out.append(("task.created", {"patient_id": "P100001", "status": "requested", "priority": "routine",
                                     "answers": answers, "summary": forms.summarize(w, answers),
                                     "back_entry_reason": None, "paper_form": False}, w))
        out += [("task.transitioned", {"from_status": f, "to_status": t, "reason": None, "priority": None}, w)
                for f, t in MOVES]
    return out


def fill(db: CentralDB, n: int, n_devices: int, chunk: int = 5000) -> None:
    """``n`` valid, chained events over ``n_devices`` devices, written straight into the tables."""
    kinds = templates()
    per_device = [n // n_devices + (1 if i < n % n_devices else 0) for i in range(n_devices)]
    for count in per_device:
        key, device_id = new_signing_key(), new_id()
        prev, rows, task_id, base = GENESIS_HASH, [], None, 0
        with db.write() as conn:
            for seq in range(1, count + 1):
                kind, payload, workflow = kinds[(seq - 1) % len(kinds)]
                if kind == "task.created":
                    task_id, base = new_id(), 0
                body = {"event_id": new_id(), "type": kind, "schema_version": 1, "workflow": workflow,
                        "task_id": task_id, "base_version": base, "site_id": "st-marys", "unit_id": "ward-7",
                        "device_id": device_id, "device_seq": seq,
                        "actor": {"user_id": "nina", "display_name": "Nina Okafor (RN)", "role": "nurse",
                                  "on_behalf_of": None},
                        "occurred_at": NOW, "recorded_at": NOW, "hlc": f"{1764057600000 + seq:013d}.00000",
                        "source": f"workstation:{device_id}", "destination": None, "correlation_id": task_id,
                        "causation_id": None, "mode": "synthetic", "payload": payload, "prev_hash": prev}
                text = canonical_bytes(body)
                digest = hashlib.sha256(text).hexdigest()
                rows.append({"event_id": body["event_id"], "device_id": device_id, "device_seq": seq,
                             "site_id": "st-marys", "unit_id": "ward-7", "type": kind, "workflow": workflow,
                             "task_id": task_id, "base_version": base, "hash": digest, "result": "accepted",
                             "received_at": NOW, "body": (text[:-1] + b',"hash":"' + digest.encode() + b'"}').decode()})
                prev, base = digest, base + 1
                if len(rows) >= chunk:
                    conn.execute(sa.insert(events), rows)
                    rows = []
            if rows:
                conn.execute(sa.insert(events), rows)
            cp = sign_checkpoint(key, device_id, count, prev, NOW)
            conn.execute(sa.insert(devices).values(
                device_id=device_id, site_id="st-marys", unit_id="ward-7", public_key=public_key_text(key),
                enrolled_at=NOW, enrolled_via="token", head_seq=count, head_hash=prev, backlog=0))
            conn.execute(sa.insert(checkpoints).values(device_id=device_id, device_seq=count, signed_at=NOW,
                                                       hash=prev, signature=cp.signature, received_at=NOW))


def raw_read(db: CentralDB, parse: bool) -> float:
    started = time.perf_counter()
    with db.read() as conn:
        for device_id in conn.execute(sa.select(devices.c.device_id)).scalars().all():
            q = sa.select(events.c.device_seq, events.c.hash, events.c.body).where(
                events.c.device_id == device_id).order_by(events.c.device_seq)
            for row in conn.execute(q).yield_per(2000):
                if parse:
                    orjson.loads(row.body)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--db", help="an empty central database URL (default: a temporary SQLite file)")
    parser.add_argument("--json", action="store_true", help="(the output is always one JSON object)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tideover-verify-") as tmp:
        db = CentralDB(args.db or str(Path(tmp) / "central.db"))
        db.migrate()
        started = time.perf_counter()
        fill(db, args.events, args.devices)
        fill_s = time.perf_counter() - started
        raw_read_s = raw_read(db, parse=False)
        raw_parse_s = raw_read(db, parse=True)
        started = time.perf_counter()
        report = verify(db)
        verify_s = time.perf_counter() - started
        db.dispose()
    print(json.dumps({"backend": db.dialect, "events": report["events"], "devices": report["devices"],
                      "checkpoints": report["checkpoints"], "problems": len(report["problems"]),
                      "verify_s": round(verify_s, 2), "verify_per_s": round(report["events"] / verify_s),
                      "raw_read_s": round(raw_read_s, 2), "raw_parse_s": round(raw_parse_s, 2),
                      "ratio": round(raw_parse_s / verify_s, 3), "fill_s": round(fill_s, 1)}))


if __name__ == "__main__":
    main()
