"""Setting up, unlocking and describing a workstation; the audit trail's commands."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TextIO

from app.store import eventlog, forks, read_models, syncstate, users
from app.store.store import Store
from forms.vocabulary import ROLES
from sync.clock import SKEW_FLAG_S, Clock

from . import access
from .errors import InputError


def default_data_dir() -> Path:
    """The workstation's data folder: env TIDEOVER_DATA_DIR, else the platform's user data folder."""
    env = os.environ.get("TIDEOVER_DATA_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("Tideover", "Tideover"))


def init_workstation(data_dir: Path, *, site_id: str, unit_id: str, admin_id: str, password: str,
                     admin_name: str | None = None, recovery_public_key: Path | None = None,
                     settings: dict | None = None, clock: Clock | None = None) -> tuple[Store, str]:
    """Set up a new encrypted store; returns the open store and the one-time break-glass code."""
    pem = None
    if recovery_public_key:
        try:
            pem = Path(recovery_public_key).read_bytes()
        except OSError as err:
            raise InputError(f"Cannot read the recovery public key {recovery_public_key}: {err.strerror}") from None
    return Store.create(Path(data_dir), site_id=site_id, unit_id=unit_id, admin_id=admin_id,
                        admin_name=admin_name or admin_id, password=password, recovery_public_pem=pem,
                        settings=settings, clock=clock)


def unlock(data_dir: Path, user_id: str, password: str, clock: Clock | None = None) -> Store:
    """Open this workstation's store as ``user_id``; failures are counted, slowed and recorded."""
    return Store.open(Path(data_dir), user_id, password, clock)


def unlock_break_glass(data_dir: Path, code: str, reason: str, user_name: str,
                       clock: Clock | None = None) -> Store:
    """Emergency unlock with the sealed break-glass code; the sign-in is flagged for review."""
    return Store.open_break_glass(Path(data_dir), code, reason, user_name, clock)


def add_user(store: Store, user_id: str, role: str, password: str, display_name: str | None = None) -> None:
    if role not in ROLES:
        raise InputError(f"Unknown role '{role}'; use one of: {', '.join(ROLES)}.")
    users.add_user(store, user_id, display_name or user_id, role, password)


def list_users(store: Store) -> list[dict]:
    return read_models.users(store)


def status(store: Store) -> dict:
    """What IT and the banner need: counts, mode, identity of the workstation, last sync."""
    from .enrollment import plain_http_warning
    from .patients import census_age_seconds

    counts = read_models.status_counts(store)
    meta = store.meta()
    return {"site_id": store.site_id, "unit_id": store.unit_id, "device_id": store.device_id,
            "mode": store.settings["mode"], "events": counts["events"],
            "pending_sync": syncstate.pending_count(store), "quarantined": counts["quarantined"],
            "set_aside": counts["set_aside"], "tasks": counts["tasks"],
            "needs_review": counts["needs_review"], "last_sync": meta.get("last_sync"),
            "central_url": meta.get("central_url"), "census_age_s": census_age_seconds(store),
            "chain_head": store.head.device_seq, "user": store.actor.user_id, "role": store.actor.role,
            "central_plain_http": plain_http_warning(meta) is not None,
            "warnings": [w for w in (plain_http_warning(meta), _chain_refused_warning(store)) if w],
            "chain_fork": forks.pending_fork(store), "chain_recoveries": forks.recovered_count(store),
            **clock_status(meta)}


def _chain_refused_warning(store: Store) -> str | None:
    """The central refused this workstation's log where it differs from the central's copy."""
    seq = read_models.first_refused_at_chain_break(store)
    if seq is None:
        return None
    return (f"The central refused this workstation's log from seq {seq}: it differs from the central's "
            f"copy (restored from a backup, or changed). Events from there on are not synced; call IT.")


def clock_status(meta: dict) -> dict:
    """This workstation's clock offset from the central's as measured at the last push that carried it
    (None before any), and whether it is off by more than the central flags."""
    offset = float(meta["clock_offset_s"]) if meta.get("clock_offset_s") else None
    return {"clock_offset_s": offset, "clock_checked_at": meta.get("clock_checked_at"),
            "clock_off": offset is not None and abs(offset) > SKEW_FLAG_S}


def export_audit(store: Store, out: TextIO) -> int:
    """Write every event as one canonical JSON line; the export itself is recorded first."""
    access.require_supervisor(store)
    total = eventlog.event_count(store)
    store.record("access.export", {"what": "audit", "count": total + 1, "format": "jsonl"})
    n = 0
    for body in eventlog.all_bodies(store):
        out.write(body + "\n")
        n += 1
    return n


def break_glass_review(store: Store) -> list[dict]:
    """Break-glass sign-ins, unlock failures and chain recoveries (a restore from an older copy),
    for a super-user's review."""
    access.require_supervisor(store)
    rows = []
    for body in eventlog.bodies_of_type(store, "access.sign_in", "access.unlock_failed", "device.chain_recovered"):
        b = json.loads(body)
        if b["type"] == "access.sign_in" and b["payload"].get("method") != "break_glass":
            continue
        payload = b["payload"]
        if b["type"] == "device.chain_recovered":  # the forked event ids are in `tideover recover-chain --list`
            payload = {**payload, "forked": len(payload.get("forked", []))}
        rows.append({"event_id": b["event_id"], "type": b["type"], "at": b["recorded_at"],
                     "actor": b["actor"]["display_name"], **payload})
    return rows
