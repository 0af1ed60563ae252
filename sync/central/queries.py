"""Reading the central: pull pages, stats, conflicts, the quarantine, and the full chain check."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import orjson
import sqlalchemy as sa

from sync.canonical import GENESIS_HASH, canonical_bytes
from sync.chain import link_break
from sync.checkpoint import Checkpoint, verify_checkpoint
from sync.clock import SKEW_FLAG_S
from sync.errors import BadSignature, ChainBroken, InvalidEvent
from sync.protocol import SHARED_TYPE_PREFIXES
from sync.validity import event_problem

from .db import (
    CentralDB,
    checkpoints,
    conflicts,
    device_audit,
    devices,
    events,
    quarantine,
    set_aside_reports,
    withheld,
)
from .enroll import Device
from .ingest import CHAIN_DIFFERS

PULL_LIMIT = 1000


def _shared_types():
    return sa.or_(*[events.c.type.startswith(p) for p in SHARED_TYPE_PREFIXES])


def pull_page(db: CentralDB, device: Device, after: int, limit: int = PULL_LIMIT) -> bytes:
    """A PullResponse as JSON bytes: the unit's shared events from other devices after ``after``.

    The stored texts are spliced in as they are, without decoding and encoding them again.
    """
    limit = max(1, min(int(limit), PULL_LIMIT))
    q = (sa.select(events.c.gseq, events.c.body)
         .where(events.c.site_id == device.site_id, events.c.unit_id == device.unit_id,
                events.c.gseq > after, events.c.device_id != device.device_id, _shared_types(),
                ~sa.exists().where(withheld.c.event_id == events.c.event_id))  # tideover-central withhold
         .order_by(events.c.gseq).limit(limit + 1))
    with db.read() as conn:
        rows = conn.execute(q).all()
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = rows[-1].gseq if rows else after
    return (f'{{"cursor":{cursor},"more":{"true" if more else "false"},"events":['
            + ",".join(r.body for r in rows) + "]}").encode("utf-8")


def own_events_page(db: CentralDB, device: Device, after: int, limit: int = PULL_LIMIT) -> bytes:
    """An OwnEventsResponse as JSON bytes: the central's copy of this device's own chain after seq
    ``after`` (held and held-back events, each with its answer), its head and the device's own
    checkpoint signed over that head, so a workstation restored from an older copy can take its
    events back and check them with its own key."""
    limit = max(1, min(int(limit), PULL_LIMIT))
    held = sa.select(events.c.device_seq, events.c.result, sa.cast(sa.null(), sa.String).label("reason"), events.c.body).where(
        events.c.device_id == device.device_id, events.c.device_seq > after)
    back = sa.select(quarantine.c.device_seq, quarantine.c.result, quarantine.c.reason, quarantine.c.body).where(
        quarantine.c.device_id == device.device_id, quarantine.c.device_seq > after)
    with db.read() as conn:
        head = conn.execute(sa.select(devices.c.head_seq, devices.c.head_hash).where(
            devices.c.device_id == device.device_id)).one()
        rows = conn.execute(sa.union_all(held, back).order_by("device_seq").limit(limit + 1)).all()
        cp = conn.execute(sa.select(checkpoints).where(
            checkpoints.c.device_id == device.device_id, checkpoints.c.device_seq == head.head_seq)
            .order_by(checkpoints.c.signed_at.desc()).limit(1)).first()
    more = len(rows) > limit
    rows = rows[:limit]
    checkpoint = (json.dumps({"device_id": device.device_id, "device_seq": cp.device_seq, "hash": cp.hash,
                              "signed_at": cp.signed_at, "signature": cp.signature}) if cp else "null")
    items = ",".join(f'{{"result":{json.dumps(r.result)},"reason":{json.dumps(r.reason)},"event":{r.body}}}'
                     for r in rows)
    return (f'{{"device_id":{json.dumps(device.device_id)},"head_seq":{head.head_seq},'
            f'"head_hash":{json.dumps(head.head_hash)},"checkpoint":{checkpoint},'
            f'"more":{"true" if more else "false"},"events":[{items}]}}').encode()


def stats(db: CentralDB) -> dict:
    """Counts for IT: events, devices with their highest gapless seq, quarantine, conflicts."""
    with db.read() as conn:
        n_events = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
        by_result = dict(conn.execute(sa.select(events.c.result, sa.func.count()).group_by(events.c.result)).all())
        q_rows = conn.execute(sa.select(quarantine.c.result, quarantine.c.reason, sa.func.count())
                              .group_by(quarantine.c.result, quarantine.c.reason)).all()
        n_conflicts = conn.execute(sa.select(sa.func.count()).select_from(conflicts)).scalar_one()
        devs = conn.execute(sa.select(devices.c.device_id, devices.c.site_id, devices.c.unit_id,
                                      devices.c.head_seq, devices.c.last_push_at, devices.c.backlog,
                                      devices.c.enrolled_via, devices.c.clock_offset_s, devices.c.clock_read_at)
                            .order_by(devices.c.device_id)).all()
    return {
        "events": n_events, "accepted": by_result.get("accepted", 0), "conflict": by_result.get("conflict", 0),
        "quarantine": sum(r[2] for r in q_rows),
        "quarantine_by_reason": {f"{r[0]}:{r[1]}": r[2] for r in q_rows},
        "conflicts": n_conflicts, "devices": len(devs),
        "clock_off_devices": sum(1 for d in devs if clock_off(d.clock_offset_s)),
        "per_device": [{"device_id": d.device_id, "site_id": d.site_id, "unit_id": d.unit_id,
                        "highest_seq": d.head_seq, "last_push_at": d.last_push_at,
                        "reported_backlog": d.backlog, "enrolled_via": d.enrolled_via,
                        "clock_offset_s": d.clock_offset_s, "clock_read_at": d.clock_read_at,
                        "clock_off": clock_off(d.clock_offset_s)} for d in devs],
    }


def clock_off(offset_s: float | None) -> bool:
    """Whether a device's measured clock offset is more than the central flags (2 min)."""
    return offset_s is not None and abs(offset_s) > SKEW_FLAG_S


def list_conflicts(db: CentralDB) -> list[dict]:
    with db.read() as conn:
        rows = conn.execute(sa.select(conflicts).order_by(conflicts.c.id)).mappings().all()
    return [{k: v for k, v in r.items() if k != "id"} for r in rows]


def list_quarantine(db: CentralDB) -> list[dict]:
    """Held-back events without their bodies (the bodies can carry patient data)."""
    cols = [quarantine.c[n] for n in ("event_id", "device_id", "device_seq", "site_id", "unit_id", "workflow",
                                      "result", "reason", "detail", "received_at")]
    with db.read() as conn:
        return [dict(r) for r in conn.execute(sa.select(*cols).order_by(quarantine.c.id)).mappings()]


def _chain_rows(conn, device_id: str) -> Iterator[tuple[int, str, str, int]]:
    """(device_seq, hash, body, stored) of every event held for a device, events (stored 1) and
    quarantine (stored 0) merged in order."""
    a = sa.select(events.c.device_seq, events.c.hash, events.c.body, sa.literal(1).label("stored")).where(
        events.c.device_id == device_id)
    b = sa.select(quarantine.c.device_seq, quarantine.c.hash, quarantine.c.body, sa.literal(0).label("stored")).where(
        quarantine.c.device_id == device_id)
    yield from conn.execute(sa.union_all(a, b).order_by("device_seq")).yield_per(2000)


PARALLEL_FROM = 200_000  # events held: from here verify spreads the devices over the machine's cores


def verify(db: CentralDB, workers: int | None = None) -> dict:
    """Re-check every device's chain and every stored checkpoint signature, and every stored event
    by the rule workstations apply to what they pull (``sync.validity``).

    Returns {"devices", "events", "checkpoints", "problems": [..], "untakeable": [..]}; any problem
    means a break or an event workstations cannot take that is not withheld from pulls. Devices are
    checked in ``workers`` processes (default: one per core once ``PARALLEL_FROM`` events are held).
    """
    with db.read() as conn:
        devs = [tuple(d) for d in conn.execute(sa.select(devices.c.device_id, devices.c.site_id, devices.c.unit_id,
                                                         devices.c.public_key, devices.c.head_seq,
                                                         devices.c.head_hash))]
    if workers is None:
        held = sum(d[4] for d in devs)
        workers = min(os.cpu_count() or 1, len(devs)) if held >= PARALLEL_FROM else 1
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = list(pool.map(_verify_devices_apart, [(db.url, devs[i::workers]) for i in range(workers)]))
    else:
        parts = [_verify_devices(db, devs)]
    problems = [p for part in parts for p in part[2]]
    untakeable = {k: v for part in parts for k, v in part[3].items()}
    with db.read() as conn:
        _add_reported(conn, untakeable)
        # Batches refused because they contradict the central's copy (a workstation restored or
        # rewritten): the central's copy stands, and IT is told which device and where. One the
        # device later recovered from (it took the central's copy back and said so in a
        # device.chain_recovered event, app/store/forks.py) is listed as resolved, not a problem.
        recovered = dict(conn.execute(sa.select(events.c.device_id, sa.func.max(events.c.received_at))
                                      .where(events.c.type == "device.chain_recovered")
                                      .group_by(events.c.device_id)).all())
        resolved: list[dict] = []
        for r in conn.execute(sa.select(device_audit.c.device_id, device_audit.c.at, device_audit.c.reason)
                              .where(device_audit.c.action == CHAIN_DIFFERS).order_by(device_audit.c.id)):
            seq = re.match(r"seq (\d+): ", r.reason)
            entry = {"device_id": r.device_id, "device_seq": int(seq.group(1)) if seq else 0,
                     "problem": CHAIN_DIFFERS, "detail": f"at {r.at} the device sent a chain that "
                     f"differs from the central's copy, refused: {r.reason}"}
            if recovered.get(r.device_id) and recovered[r.device_id] >= r.at:
                resolved.append({**entry, "detail": entry["detail"] + "; the device then took the central's "
                                 f"copy back and recorded it (device.chain_recovered at {recovered[r.device_id]})"})
            else:
                problems.append(entry)
    for item in untakeable.values():
        if not item["withheld"]:
            problems.append({"device_id": item["device_id"], "device_seq": item["device_seq"],
                             "problem": "untakeable", "detail": f"event {item['event_id']}: {item['reason']}: "
                                                                f"{item['detail']} (withhold it or ask IT)"})
    return {"devices": len(devs), "events": sum(p[0] for p in parts), "checkpoints": sum(p[1] for p in parts),
            "problems": problems, "resolved": resolved, "untakeable": list(untakeable.values())}


def _verify_devices_apart(job: tuple[str, list[tuple]]) -> tuple[int, int, list[dict], dict[str, dict]]:
    """``_verify_devices`` in a worker process, on its own connection."""
    url, devs = job
    db = CentralDB(url)
    try:
        return _verify_devices(db, devs)
    finally:
        db.dispose()


def _verify_devices(db: CentralDB, devs: list[tuple]) -> tuple[int, int, list[dict], dict[str, dict]]:
    """(events, checkpoints, problems, untakeable) for these devices (device_id, site, unit, key, head)."""
    problems: list[dict] = []
    untakeable: dict[str, dict] = {}
    n_events = n_cps = 0
    with db.read() as conn:
        for device_id, site_id, unit_id, public_key, head_seq, head_hash in devs:
            dev = Device(device_id, site_id, unit_id, public_key)
            cps = conn.execute(sa.select(checkpoints).where(checkpoints.c.device_id == dev.device_id)).all()
            hashes: dict[int, str] = dict.fromkeys((cp.device_seq for cp in cps), "")
            try:
                n_events += _verify_chain(conn, dev, head_seq, head_hash, hashes, untakeable)
            except ChainBroken as err:
                problems.append({"device_id": dev.device_id, "device_seq": err.device_seq,
                                 "problem": "chain_broken", "detail": str(err)})
            for cp in cps:
                n_cps += 1
                problem = _check_checkpoint(cp, dev, hashes)
                if problem:
                    problems.append({"device_id": dev.device_id, "device_seq": cp.device_seq,
                                     "problem": problem[0], "detail": problem[1]})
    return n_events, n_cps, problems, untakeable


def _verify_chain(conn, dev: Device, head_seq: int, head_hash: str, hashes: dict[int, str],
                  untakeable: dict[str, dict]) -> int:
    """Walk one device's chain; ``hashes``: the seqs to note the hash of (its checkpoints')."""
    expected, prev, count = 1, GENESIS_HASH, 0
    for seq, stored_hash, text, stored in _chain_rows(conn, dev.device_id):
        body = orjson.loads(text)
        if seq != expected:  # a row is missing (the body would name the seq its row has)
            raise ChainBroken(f"seq {expected} is missing (found {seq})", device_seq=expected)
        if body.get("device_seq") != seq or body.get("hash") != stored_hash or \
                body.get("device_id") != dev.device_id:
            raise ChainBroken(f"seq {seq}: the row's columns disagree with its body", device_seq=seq)
        broken = link_break(body, expected, prev, _hash_without_own(body) == stored_hash)
        if broken is not None:
            raise ChainBroken(broken.detail, device_seq=broken.device_seq)
        if stored and (problem := event_problem(body, text)) is not None:
            untakeable[body["event_id"]] = {"event_id": body["event_id"], "device_id": dev.device_id,
                                            "device_seq": seq, "reason": problem.reason, "detail": str(problem),
                                            "reports": 0, "withheld": False}
        if seq in hashes:
            hashes[seq] = stored_hash
        prev, expected, count = stored_hash, expected + 1, count + 1
    if expected - 1 != head_seq or prev != head_hash:
        raise ChainBroken(f"the device's recorded head (seq {head_seq}) is not the last event held "
                          f"(seq {expected - 1})", device_seq=min(head_seq, expected))
    return count


def _hash_without_own(body: dict) -> str | None:
    """``sync.events.recompute_hash`` without copying the body (a million of them in a verify)."""
    claimed = body.pop("hash", None)
    try:
        return hashlib.sha256(canonical_bytes(body)).hexdigest()
    except InvalidEvent:  # a value JSON cannot carry canonically
        return None
    finally:
        body["hash"] = claimed


def _add_reported(conn, untakeable: dict[str, dict]) -> None:
    """Merge in what workstations reported they could not take, and mark what is withheld."""
    reported = conn.execute(
        sa.select(set_aside_reports.c.event_id, sa.func.count().label("reports"),
                  sa.func.min(set_aside_reports.c.reason).label("reason"),
                  sa.func.min(set_aside_reports.c.detail).label("detail"), events.c.device_id, events.c.device_seq)
        .join(events, events.c.event_id == set_aside_reports.c.event_id)
        .group_by(set_aside_reports.c.event_id, events.c.device_id, events.c.device_seq)).all()
    for r in reported:
        item = untakeable.setdefault(r.event_id, {"event_id": r.event_id, "device_id": r.device_id,
                                                  "device_seq": r.device_seq, "reason": r.reason,
                                                  "detail": f"reported by a workstation: {r.detail}",
                                                  "reports": 0, "withheld": False})
        item["reports"] = r.reports
    for (event_id,) in conn.execute(sa.select(withheld.c.event_id)):
        if event_id in untakeable:
            untakeable[event_id]["withheld"] = True


def _check_checkpoint(cp, dev: Device, hashes: dict[int, str]) -> tuple[str, str] | None:
    try:
        verify_checkpoint(Checkpoint(device_id=dev.device_id, device_seq=cp.device_seq, hash=cp.hash,
                                     signed_at=cp.signed_at, signature=cp.signature), dev.public_key)
    except (BadSignature, ValueError) as err:
        return "bad_signature", str(err)
    if cp.device_seq and hashes.get(cp.device_seq) != cp.hash:
        return "checkpoint_mismatch", f"the checkpoint at seq {cp.device_seq} does not match the event held"
    return None
