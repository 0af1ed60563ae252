"""The errors of the event model and the sync protocol, shared by the store and the central.

Their base, ``TideoverError``, lives in the lowest layer (``forms.errors``) so that forms' errors are in
the same tree; it is re-exported here for the callers that import it from ``sync.errors``.
"""

from __future__ import annotations

from forms.errors import TideoverError

__all__ = ["TideoverError", "InvalidEvent", "ChainBroken", "NotGranted", "BadSignature", "IllegalTransition"]


class InvalidEvent(TideoverError):
    """An event that is malformed or invalid in meaning (unknown type, bad payload).

    ``reason`` is the protocol's reason code (``sync.protocol``: unknown_type, invalid_payload,
    invalid_fields, not_canonical), the same at the central and on a workstation."""

    kind = "invalid_event"

    def __init__(self, message: str, *, reason: str = "invalid_fields"):
        super().__init__(message)
        self.reason = reason


class ChainBroken(TideoverError):
    """A device's hash chain does not link: an event was edited, removed or reordered."""

    kind = "chain_broken"

    def __init__(self, message: str, *, device_id: str = "", device_seq: int = 0, event_id: str = ""):
        super().__init__(message)
        self.device_id = device_id
        self.device_seq = device_seq
        self.event_id = event_id


class NotGranted(TideoverError):
    """An event whose actor holds no such role on its device, or a role grant that does not verify."""

    kind = "not_granted"

    def __init__(self, message: str, *, reason: str = "", device_seq: int = 0, event_id: str = ""):
        super().__init__(message)
        self.reason, self.device_seq, self.event_id = reason, device_seq, event_id


class BadSignature(TideoverError):
    """A checkpoint signature does not verify with the device's public key."""

    kind = "bad_signature"


class IllegalTransition(TideoverError):
    """A task status change that the FHIR Task state machine does not allow."""

    kind = "illegal_transition"
