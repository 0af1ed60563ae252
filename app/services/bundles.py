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

from .errors import InputError


def central_keys(store: Store, key_file: Path | None = None) -> CentralKeys:
    """The central's public keys: from ``key_file`` (``tideover-central keys export``) or enrollment."""
    if key_file:
        try:
            keys = CentralKeys.model_validate_json(Path(key_file).read_bytes())
        except OSError as err:
            raise InputError(f"Cannot read the central key file {key_file}: {err.strerror}") from None
        except ValueError:
            raise InputError(f"{key_file} is not a central key file (make one with "
                             f"`tideover-central keys export`).") from None
        store.set_meta("central_bundle_key", keys.bundle_public_key)
        store.set_meta("central_signing_key", keys.signing_public_key)
        return keys
    meta = store.meta()
    if not meta.get("central_bundle_key") or not meta.get("central_signing_key"):
        raise InputError("This workstation does not know the central's keys: enroll it, or pass "
                         "--central-key FILE (from `tideover-central keys export`).")
    return CentralKeys(bundle_public_key=meta["central_bundle_key"],
                       signing_public_key=meta["central_signing_key"])


def export_bundle(store: Store, out: Path, key_file: Path | None = None) -> dict:
    """Write every pending event (and the chain after the first) as one encrypted bundle."""
    keys = central_keys(store, key_file)
    start = outbox.first_pending_seq(store)
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
    """Verify the central's signature on a receipt and mark this device's events from its answers."""
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
