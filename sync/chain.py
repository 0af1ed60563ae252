"""The chain rule, in one place: what breaks a device's chain of events.

Each event of a device names the seq after the one before it (``device_seq`` from 1, no gaps), links
to it (``prev_hash`` is that event's ``hash``; the first links to ``GENESIS_HASH``) and matches its
own hash (SHA-256 over its canonical body without the hash). ``link_break`` says which of these an
event breaks, with the reason code the protocol uses. Every check of a chain asks it: the
workstation's verify (``sync.events.verify_chain``), the central's push (``ingest_chain``) and the
central's verify (``queries``). Each computes the hash its own fastest way and raises its own error.
"""

from __future__ import annotations

from dataclasses import dataclass

from .protocol import CHAIN_BROKEN, HASH_MISMATCH, SEQ_GAP


@dataclass(frozen=True)
class LinkBreak:
    """Where and how a chain breaks: a protocol reason code, the seq, and words for IT."""

    reason: str  # SEQ_GAP, CHAIN_BROKEN or HASH_MISMATCH
    device_seq: int
    detail: str


def link_break(body: dict, expected_seq: int, prev_hash: str, hash_matches: bool) -> LinkBreak | None:
    """How ``body`` breaks the chain when ``expected_seq`` and ``prev_hash`` should come next, or None.

    ``hash_matches``: whether the body's own hash is the hash of its content (the caller computes it)."""
    seq, eid = body.get("device_seq"), body.get("event_id", "?")
    if seq != expected_seq:
        return LinkBreak(SEQ_GAP, expected_seq, f"Event {eid}: seq {seq} where {expected_seq} was expected "
                                                f"(an event is missing or out of order).")
    if body.get("prev_hash") != prev_hash:
        return LinkBreak(CHAIN_BROKEN, seq, f"Event {eid} (seq {seq}) does not link to the event before it.")
    if not hash_matches:
        return LinkBreak(HASH_MISMATCH, seq, f"Event {eid} (seq {seq}) does not match its hash: it was "
                                             f"changed after it was made.")
    return None
