"""Steps 2-4 of taking a push, before any lock: ownership, the signed checkpoint, and the chain inside
the batch (contiguous ``device_seq``, each ``prev_hash`` links, each hash recomputed from the body).

The checkpoint's one signature then vouches for every event of the batch. Any problem refuses the
whole batch; nothing is written. The link to what the central already holds is checked later, under
the write lock (``ingest``), against :func:`differs`.
"""

from __future__ import annotations

import hashlib

from sync.canonical import canonical_bytes
from sync.chain import link_break
from sync.checkpoint import verify_checkpoint
from sync.errors import BadSignature, InvalidEvent
from sync.protocol import (
    BAD_SIGNATURE,
    CHAIN_BROKEN,
    CHECKPOINT_MISMATCH,
    INVALID_REQUEST,
    NOT_YOUR_DEVICE,
)

from .enroll import Device
from .errors import Contradicts, Forbidden, Unprocessable
from .ingest_envelope import PushBatch


def check_batch(device: Device, batch: PushBatch) -> tuple[list[dict], dict[int, str]]:
    """Ownership, checkpoint and the chain inside the batch. Returns events in seq order, and
    seq -> the text to store (its canonical JSON with the hash appended last)."""
    check_ownership(device, batch)
    evs = sorted(batch.events, key=lambda e: e["device_seq"])
    check_checkpoint(device, batch, evs[-1])
    return evs, chain_texts(evs)


def check_ownership(device: Device, batch: PushBatch) -> None:
    """Every event is the pushing device's, of its site and unit (403 otherwise)."""
    if batch.device_id != device.device_id or batch.checkpoint.device_id != device.device_id:
        raise Forbidden(NOT_YOUR_DEVICE, "A device may push only its own events.")
    for ev in batch.events:
        if (ev["device_id"], ev["site_id"], ev["unit_id"]) != (device.device_id, device.site_id, device.unit_id):
            raise Forbidden(NOT_YOUR_DEVICE,
                            f"Event {ev['event_id'][:64]} belongs to {ev['device_id'][:64]} at "
                            f"{ev['site_id'][:64]}/{ev['unit_id'][:64]}; this device may push only its own "
                            f"events of {device.site_id}/{device.unit_id}.")


def check_checkpoint(device: Device, batch: PushBatch, last: dict) -> None:
    """The checkpoint names the batch's last event and verifies with the device's enrolled key (422)."""
    if batch.checkpoint.device_seq != last["device_seq"] or batch.checkpoint.hash != last["hash"]:
        raise Unprocessable(CHECKPOINT_MISMATCH, "The checkpoint must be signed over the batch's last event.")
    try:
        verify_checkpoint(batch.checkpoint, device.public_key)
    except BadSignature as err:
        raise Unprocessable(BAD_SIGNATURE, str(err)) from None


def chain_texts(evs: list[dict]) -> dict[int, str]:
    """seq -> stored text of each event, once its seq follows, its prev_hash links and its hash is its
    body's (409 at the first that does not; 422 for a NUL, which no database text column holds)."""
    prev, texts = None, {}
    for ev in evs:
        seq = ev["device_seq"]
        claimed = ev.pop("hash")  # what sync.events.recompute_hash does, keeping the canonical text
        try:
            text = canonical_bytes(ev)
            ok = hashlib.sha256(text).hexdigest() == claimed
        except (ValueError, TypeError, InvalidEvent):  # a value JSON cannot carry canonically
            ok = False
        finally:
            ev["hash"] = claimed
        # The batch's first event links to the central's head (checked where the head is read).
        broken = link_break(ev, seq if prev is None else prev["device_seq"] + 1,
                            ev["prev_hash"] if prev is None else prev["hash"], ok)
        if broken is not None:
            raise Contradicts(broken.reason, broken.detail, device_seq=broken.device_seq)
        if b"\\u0000" in text:  # no database text column holds NUL; no event needs one
            raise Unprocessable(INVALID_REQUEST, f"Event {ev['event_id'][:64]} (seq {seq}) contains a NUL "
                                                 f"character.")
        texts[seq] = (text[:-1] + b',"hash":"' + claimed.encode() + b'"}').decode()
        prev = ev
    return texts


def differs(detail: str, seq: int, head_seq: int) -> Contradicts:
    """The refusal of a batch that contradicts the central's copy of the device's chain (the reference);
    ``ingest`` records it for IT (``tideover-central verify``) before refusing."""
    err = Contradicts(CHAIN_BROKEN, detail, device_seq=seq, highest_gapless_seq=head_seq)
    err.against_reference = True
    return err
