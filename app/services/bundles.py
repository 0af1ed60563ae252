"""Air-gap sync: the outbox as an encrypted bundle file, and the central's signed receipt back.

The bundle is built and encrypted in memory and written whole (temp name, fsync, rename), so no
patient data touches the disk in the clear. Importing a receipt marks events only from the
central's answers in it, exactly as an HTTP push answer would; importing it twice changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

from app.store import outbox
from app.store.store import Store
from sync.bundle import BundleError, seal_bundle, verify_receipt, write_atomic
from sync.events import new_id
from sync.protocol import AFTER_BREAK, MAX_BATCH, RESULTS, RETRYABLE, CentralKeys

from . import access
from .errors import InputError


def pinned_keys(store: Store) -> CentralKeys | None:
    """The central's public keys this workstation pinned (at enrollment, or once from an admin's key file)."""
    meta = store.meta()
    if not meta.get("central_bundle_key") or not meta.get("central_signing_key"):
        return None
    return CentralKeys(bundle_public_key=meta["central_bundle_key"], signing_public_key=meta["central_signing_key"])


def _read_key_file(key_file: Path) -> CentralKeys:
    try:
        return CentralKeys.model_validate_json(Path(key_file).read_bytes())
    except OSError as err:
        raise InputError(f"Cannot read the central key file {key_file}: {err.strerror}") from None
    except ValueError:
        raise InputError(f"{key_file} is not a central key file (make one with "
                         f"`tideover-central keys export`).") from None


def central_keys(store: Store, key_file: Path | None = None, *, may_pin: bool = False) -> CentralKeys:
    """The pinned central keys. A ``key_file`` must repeat them; on a workstation that has none, an admin
    pins it once (``may_pin``: only for an export, whose bundle is encrypted to it). Never replaced."""
    pinned = pinned_keys(store)
    if key_file is None:
        if pinned is None:
            raise InputError("This workstation does not know the central's keys: enroll it, or an admin exports "
                             "the first bundle with --central-key FILE (from `tideover-central keys export`).")
        return pinned
    given = _read_key_file(key_file)
    if pinned is not None:
        if given != pinned:
            raise BundleError(f"{key_file} is not the key of the central this workstation trusts (pinned at "
                              f"enrollment or at its first bundle); it is not used and the pinned key stays. To "
                              f"move to another central, an admin enrolls the workstation again.")
        return pinned
    if not may_pin:
        raise BundleError("This workstation has no central key pinned, so it has sent no bundle this receipt "
                          "could answer. An admin pins the central's key with the first "
                          "`tideover bundle export --central-key FILE`.")
    access.require_admin(store)
    store.set_meta("central_bundle_key", given.bundle_public_key)
    store.set_meta("central_signing_key", given.signing_public_key)
    store.set_meta("central_keys_pinned_by", f"{store.actor.user_id} at {store.clock.now_iso()}")
    return given


def held_seq(store: Store) -> int | None:
    """Up to which seq the central holds this device's chain, as its last signed answer or receipt said."""
    text = store.meta().get("central_held_seq") or ""
    return int(text) if text.isdigit() else None


def export_start(store: Store) -> int | None:
    """Where a bundle starts: the first unanswered event, or earlier if the central's last genuine answer
    says it holds less than was marked (it lost events, or a refusal named a gap)."""
    start, held = outbox.first_pending_seq(store), held_seq(store)
    if held is not None and held < store.head.device_seq:
        start = min(start, held + 1) if start is not None else held + 1
    return start


def export_bundle(store: Store, out: Path, key_file: Path | None = None) -> dict:
    """Write every pending event (and the chain after the first) as one encrypted bundle to the pinned
    central, from where its last genuine receipt or answer says it stands."""
    keys = central_keys(store, key_file, may_pin=True)
    start = export_start(store)
    if start is None:
        raise InputError("Nothing to export: no event is waiting for sync.")
    store.record("access.export", {"what": "sync_bundle", "count": outbox.pending_count(store) + 1,
                                   "format": "tideover-bundle"})
    batches, count, seq = [], 0, start
    while True:
        rows = outbox.batch_from(store, seq, MAX_BATCH)
        if not rows:
            break
        cp = outbox.sign_at(store, rows[-1].device_seq, rows[-1].hash)
        batches.append(b'{"checkpoint":' + cp.model_dump_json().encode() + b',"events":['
                       + b",".join(r.body for r in rows) + b"]}")
        count += len(rows)
        seq = rows[-1].device_seq + 1
    bundle_id = new_id()
    head = {"bundle_id": bundle_id, "device_id": store.device_id, "site_id": store.site_id,
            "unit_id": store.unit_id, "public_key": store.public_key, "created_at": store.clock.now_iso(),
            "backlog": max(0, outbox.pending_count(store) - count)}
    payload = json.dumps(head)[:-1].encode() + b',"batches":[' + b",".join(batches) + b"]}"
    header = {"bundle_id": bundle_id, "device_id": store.device_id, "events": count, "first_seq": start,
              "last_seq": seq - 1, "created_at": head["created_at"]}
    write_atomic(out, seal_bundle(payload, header, keys.bundle_public_key))
    return {"bundle": str(out), "bundle_id": bundle_id, "events": count, "first_seq": start, "last_seq": seq - 1}


def import_receipt(store: Store, path: Path, key_file: Path | None = None) -> dict:
    """Verify the pinned central's signature on a receipt and mark this device's events from its answers."""
    keys = central_keys(store, key_file)
    try:
        receipt = json.loads(Path(path).read_bytes())
    except OSError as err:
        raise InputError(f"Cannot read the receipt {path}: {err.strerror}") from None
    except ValueError:
        raise BundleError(f"{path} is not a receipt file (it is not JSON).") from None
    verify_receipt(receipt, keys.signing_public_key)
    if receipt.get("device_id") != store.device_id:
        raise BundleError(f"This receipt is for device {receipt.get('device_id')}, not this workstation "
                          f"({store.device_id}).")
    results = receipt.get("results") or []
    outbox.apply_answers(store, results)
    _note_held(store, receipt)
    refused = receipt.get("refused")
    if isinstance(refused, dict) and refused.get("error") not in RETRYABLE and \
            isinstance(refused.get("device_seq"), int):
        outbox.mark_refused(store, refused["device_seq"], str(refused.get("error")), AFTER_BREAK)
    store.checkpoint("sync")
    store.set_meta("last_sync", store.clock.now_iso())
    counts = {r: 0 for r in RESULTS}
    for r in results:
        if r.get("result") in counts:
            counts[r["result"]] += 1
    return {"bundle_id": receipt.get("bundle_id"), "results": counts, "refused": refused,
            "pending": outbox.pending_count(store)}


def _note_held(store: Store, receipt: dict) -> None:
    """Keep where the central stands from a genuine receipt, unless a newer one was imported already."""
    hgs, issued = receipt.get("highest_gapless_seq"), str(receipt.get("issued_at") or "")
    if not isinstance(hgs, int) or isinstance(hgs, bool) or hgs < 0:
        return
    if issued < (store.meta().get("central_held_receipt_at") or ""):
        return  # an older receipt imported late: the newer one said more recently what the central holds
    store.set_meta("central_held_seq", str(hgs))
    store.set_meta("central_held_receipt_at", issued)
