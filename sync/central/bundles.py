"""Importing an air-gap bundle at the central: the same ingest as HTTP, answered with a signed receipt.

The receipt of a bundle that went in whole is stored; importing the bundle again returns that
same receipt and writes nothing.
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from sync.bundle import BundleError, open_bundle, sign_receipt
from sync.clock import Clock
from sync.protocol import MAX_BATCH

from .db import CentralDB, devices, receipts
from .enroll import Device, device_for_bundle
from .errors import Refused
from .ingest import PushBatch, check_batch, ingest, parse_push
from .keys import KeyPair, load_keys


def _payload(raw: bytes) -> dict:
    try:
        payload = json.loads(raw)
    except ValueError:
        raise BundleError("The bundle decrypts but its content is not JSON; export it again.") from None
    fields = ("bundle_id", "device_id", "site_id", "unit_id", "public_key", "batches")
    if not isinstance(payload, dict) or not all(isinstance(payload.get(f), (str, list)) for f in fields) or \
            not isinstance(payload["batches"], list) or not payload["batches"]:
        raise BundleError("The bundle's content is not a Tideover bundle payload.")
    return payload


def _batches(payload: dict) -> list[PushBatch]:
    out = []
    for i, b in enumerate(payload["batches"]):
        if not isinstance(b, dict) or not isinstance(b.get("events"), list) or len(b["events"]) > MAX_BATCH:
            raise BundleError(f"Batch {i} of the bundle is malformed.")
        try:
            out.append(parse_push({"device_id": payload["device_id"], "checkpoint": b.get("checkpoint"),
                                   "events": b["events"], "backlog": int(payload.get("backlog", 0))}))
        except (Refused, ValueError, TypeError) as err:
            raise BundleError(f"Batch {i} of the bundle is malformed: {err}") from None
    return out


def import_bundle(db: CentralDB, data: bytes, clock: Clock | None = None,
                  keys: KeyPair | None = None, *, register: tuple[str, str] | None = None,
                  by: str = "bundle import") -> dict:
    """Ingest a bundle file's bytes; returns the signed receipt. BundleError before anything is written
    if the file is cut, changed, malformed or not vouched for by the device's key.

    A never-enrolled device's bundle goes in only with ``register=(site, unit)``: IT vouching for it,
    matching the site and unit the bundle names.
    """
    clock = clock or Clock()
    keys = keys or load_keys(db, clock)
    _header, raw = open_bundle(data, keys.bundle_private)
    payload = _payload(raw)
    batches = _batches(payload)
    with db.read() as conn:
        stored = conn.execute(sa.select(receipts.c.receipt).where(
            receipts.c.bundle_id == payload["bundle_id"])).scalar_one_or_none()
    if stored is not None:
        return json.loads(stored)
    provisional = Device(payload["device_id"], payload["site_id"], payload["unit_id"], payload["public_key"])
    try:  # vouched for by the key it names, before a never-enrolled device is registered from it
        check_batch(provisional, batches[0])
    except Refused as err:
        raise BundleError(f"The bundle is refused: {err.detail}") from None
    first = min(batches[0].events, key=lambda e: e["device_seq"])
    try:
        device = device_for_bundle(db, payload["device_id"], payload["site_id"], payload["unit_id"],
                                   payload["public_key"], first, clock, register=register, by=by)
    except Refused as err:
        raise BundleError(err.detail) from None
    results, refused = [], None
    for batch in batches:
        try:
            outcome = ingest(db, device, batch, clock, reorder_wait=0)
        except Refused as err:
            refused = err.body()
            break
        results.extend(outcome.results)
    with db.read() as conn:
        hgs = conn.execute(sa.select(devices.c.head_seq).where(
            devices.c.device_id == device.device_id)).scalar_one()
    receipt = sign_receipt({"bundle_id": payload["bundle_id"], "device_id": device.device_id,
                            "issued_at": clock.now_iso(), "results": results, "highest_gapless_seq": hgs,
                            "refused": refused}, keys.signing_private)
    if refused is None:
        with db.write() as conn:
            conn.execute(db.insert_ignore(receipts), {"bundle_id": payload["bundle_id"],
                                                      "device_id": device.device_id,
                                                      "imported_at": clock.now_iso(),
                                                      "receipt": json.dumps(receipt)})
    return receipt
