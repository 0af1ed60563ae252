"""Step 5 of taking a push, under the write lock: the link to what the central holds, each event's
answer, and the one transaction that writes them.

Functions here return what they decide (answers, counts, grants); none changes its arguments.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sync.grants import TRUST_TYPES, GrantBook
from sync.protocol import DUPLICATE, QUARANTINED, REJECTED, SEQ_GAP

from . import actors, clocks, db_ingest
from .enroll import Device
from .errors import Contradicts
from .ingest_chain import differs
from .ingest_envelope import PushBatch
from .ingest_rules import REUSED_HELD, Answer, Verdict, answer_new, edits_to_check, held_back, verdict


@dataclass
class Written:
    """What one batch was answered and what its write changed."""

    results: list[dict]
    counts: Counter  # (site, unit, workflow, result) -> n, for the metrics
    highest_gapless_seq: int
    grants: GrantBook | None = None  # the device's grants after the batch, once committed


def write_batch(db, conn, device: Device, batch: PushBatch, evs: list[dict], texts: dict[int, str],
                verdicts: dict[int, Verdict | None], now: str, reading: clocks.ClockReading) -> Written:
    """Answer the batch against the device's head in ``conn`` (the write transaction) and write what it
    adds. Raises Contradicts (nothing written) for a gap or a chain that differs from the central's."""
    head = db_ingest.head(conn, device.device_id)
    first, last = evs[0]["device_seq"], evs[-1]["device_seq"]
    if first > head.head_seq + 1:
        raise Contradicts(SEQ_GAP, f"The central holds this device's events up to seq {head.head_seq}; "
                                   f"the batch starts at {first}. Send from {head.head_seq + 1}.",
                          device_seq=head.head_seq + 1, highest_gapless_seq=head.head_seq)
    new = [ev for ev in evs if ev["device_seq"] > head.head_seq]
    answered = answer_held(conn, device, evs[:len(evs) - len(new)], head.head_seq)
    if new and new[0]["prev_hash"] != head.head_hash:
        seq = new[0]["device_seq"]
        raise differs(f"Event {new[0]['event_id']} (seq {seq}) does not link to the central's copy of "
                      f"seq {seq - 1}: this device's log was restored or rewritten. Call IT.", seq, head.head_seq)
    grants = None
    if new:  # a batch of only events already held writes nothing at all
        answers, grants = take_new(db, conn, device, new, texts, verdicts, now, reading)
        answered += [(a.ev, a.result, a.reason) for a in answers]
        db_ingest.advance_head(db, conn, device.device_id, new[-1], now, batch.backlog,
                               reading.offset_s if reading.device else None, batch.checkpoint)
    results = [{"event_id": ev["event_id"], "device_seq": ev["device_seq"], "result": result, "reason": reason}
               for ev, result, reason in answered]
    counts = Counter((device.site_id, device.unit_id, _workflow(ev, result), result) for ev, result, _ in answered)
    return Written(results, counts, max(head.head_seq, last if new else 0), grants)


def answer_held(conn, device: Device, old: list[dict], head_seq: int) -> list[tuple[dict, str, str | None]]:
    """(event, result, reason) for each event the central already holds: ``duplicate``, or what it
    answered then; a different event at a held seq refuses the batch (the central's copy is the reference)."""
    if not old:
        return []
    found = db_ingest.held(conn, device.device_id, old[0]["device_seq"], old[-1]["device_seq"])
    answered = []
    for ev in old:
        row = found.get(ev["device_seq"])
        if row is None or row[0] != ev["event_id"] or row[1] != ev["hash"]:
            raise differs(f"The central holds another event at seq {ev['device_seq']} of this device: "
                          f"its log was restored or replaced. Call IT.", ev["device_seq"], head_seq)
        answer = row[2] if row[2] in (QUARANTINED, REJECTED) else DUPLICATE
        answered.append((ev, answer, row[3] if answer != DUPLICATE else None))
    return answered


def take_new(db, conn, device: Device, new: list[dict], texts: dict[int, str],
             verdicts: dict[int, Verdict | None], now: str, reading: clocks.ClockReading
             ) -> tuple[list[Answer], GrantBook | None]:
    """Answer and write the events past the held head; returns their answers, in order, and the
    device's grants after them (None: read them again next time)."""
    # The head may have moved since the first look (another server took part of the batch): judge the rest.
    verdicts = {ev["device_seq"]: verdicts[ev["device_seq"]] if ev["device_seq"] in verdicts
                else verdict(ev, device, reading, texts[ev["device_seq"]]) for ev in new}
    grants = actors.check_actors(db, conn, device.device_id, new, verdicts)  # holds back unallowed actors
    edits = edits_to_check(new, verdicts)
    rivals = db_ingest.rival_edits(db, conn, device.device_id, edits) if edits else {}
    answers = answer_new(new, verdicts, rivals)
    taken = [a for a in answers if not a.held_back]
    # The unique event_id drops a row whose id another event already has; counting what went in is
    # cheaper than looking every id up first, and such an event goes to quarantine instead.
    reused = db_ingest.insert_events(db, conn, device.device_id, [_event_row(device, a, texts, now)
                                                                   for a in taken]) if taken else set()
    if reused:
        answers = [held_back(a.ev, REUSED_HELD) if a.ev["device_seq"] in reused and not a.held_back else a
                   for a in answers]
        if any(a.ev["type"] in TRUST_TYPES for a in taken if a.ev["device_seq"] in reused):
            grants = None  # a grant counted above went to quarantine: read the grants again next time
    db_ingest.hold_back(db, conn, [_held_back_row(device, a, texts, now) for a in answers if a.held_back])
    db_ingest.record_conflicts(db, conn, [_conflict_row(device, a, now) for a in answers if a.rival is not None
                                          and not a.held_back])
    return answers, grants


def _workflow(ev: dict, result: str) -> str:
    """The workflow label of an answer in the metrics (a held-back event's may be anything: cut to text)."""
    if result in (QUARANTINED, REJECTED):
        return _text(ev.get("workflow")) or ""
    return ev.get("workflow") or ""


def _event_row(device: Device, a: Answer, texts: dict[int, str], now: str) -> dict:
    ev = a.ev
    return {"event_id": ev["event_id"], "device_id": device.device_id, "device_seq": ev["device_seq"],
            "site_id": device.site_id, "unit_id": device.unit_id, "type": ev["type"],
            "workflow": ev.get("workflow"), "task_id": ev.get("task_id"),
            "base_version": ev.get("base_version"), "hash": ev["hash"], "result": a.result,
            "received_at": now, "body": texts[ev["device_seq"]]}


def _held_back_row(device: Device, a: Answer, texts: dict[int, str], now: str) -> dict:
    ev = a.ev
    return {"event_id": ev["event_id"], "device_id": device.device_id, "device_seq": ev["device_seq"],
            "site_id": device.site_id, "unit_id": device.unit_id, "workflow": _text(ev.get("workflow")),
            "hash": ev["hash"], "result": a.result, "reason": a.reason, "detail": a.detail[:500],
            "received_at": now, "body": texts[ev["device_seq"]]}


def _conflict_row(device: Device, a: Answer, now: str) -> dict:
    ev = a.ev
    return {"task_id": ev["task_id"], "base_version": ev["base_version"], "site_id": device.site_id,
            "unit_id": device.unit_id, "workflow": ev.get("workflow"), "event_id": ev["event_id"],
            "device_id": device.device_id, "other_event_id": a.rival[0], "other_device_id": a.rival[1],
            "detected_at": now}


def _text(value) -> str | None:
    return value[:32] if isinstance(value, str) else None
