"""The central's refusals and its one table from error kind to HTTP status.

A refusal carries the protocol's reason code (``sync.protocol``: what went wrong, for machines) and a
line for a person; its class says which HTTP status answers it, through :data:`HTTP_STATUS` (the same
reason can be answered two ways: a bad enrollment signature is ``forbidden``, a bad checkpoint
signature in a push is ``unprocessable``). Any other ``TideoverError`` that reaches the API is answered
by its ``kind`` through the same table (``sync.central.app``); tests/test_error_tree.py fails when a
kind the central can raise is missing here.
"""

from __future__ import annotations

from sync.errors import TideoverError

HTTP_STATUS: dict[str, int] = {
    # refusals of a request (Refused and its classes)
    "refused": 400,
    "malformed": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_here": 404,
    "contradicts": 409,
    "too_large": 413,
    "unprocessable": 422,
    "rate_limited": 429,  # enrollment attempts (sync.central.ratelimit), answered with Retry-After
    "unavailable": 503,  # the database does not answer, or its schema is not at the newest migration
    # any other error the central or the sync core can raise
    "error": 500,
    "invalid_event": 422,
    "illegal_transition": 422,
    "invalid_form": 422,
    "unknown_workflow": 422,
    "workflow_disabled": 422,
    "bad_overlay": 422,
    "bad_bundle": 422,
    "chain_broken": 409,
    "bad_signature": 422,
    "not_granted": 403,
    "not_found": 404,
    "unsigned_answer": 502,
    "central_unreachable": 503,
    "central_db": 503,
    "central_keys": 500,
    "key_file": 500,
    "profile_refused": 422,
}


class Refused(TideoverError):
    """A request or batch the central will not take; nothing of it was written.

    Raise one of its classes (the HTTP status follows from the class's ``kind``)."""

    kind = "refused"

    def __init__(self, code: str, detail: str, *, device_seq: int | None = None,
                 highest_gapless_seq: int | None = None):
        super().__init__(detail)
        self.code, self.detail = code, detail
        self.device_seq, self.highest_gapless_seq = device_seq, highest_gapless_seq

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.kind]

    def body(self) -> dict:
        out = {"error": self.code, "detail": self.detail}
        if self.device_seq is not None:
            out["device_seq"] = self.device_seq
        if self.highest_gapless_seq is not None:
            out["highest_gapless_seq"] = self.highest_gapless_seq
        return out


class Malformed(Refused):
    """The body is not JSON (400)."""

    kind = "malformed"


class Unauthenticated(Refused):
    """No valid credential or token: enroll (again) (401)."""

    kind = "unauthenticated"


class Forbidden(Refused):
    """Known, but not allowed this: another device's events, a revoked device, a forged proof (403)."""

    kind = "forbidden"


class NotHere(Refused):
    """Nothing of that name here, or switched off (404)."""

    kind = "not_here"


class Contradicts(Refused):
    """The request contradicts what the central holds: a gap, a broken or rewritten chain (409)."""

    kind = "contradicts"


class TooLarge(Refused):
    """The request is larger than the central takes (413)."""

    kind = "too_large"


class Unprocessable(Refused):
    """Well-formed JSON that is not a valid request (422)."""

    kind = "unprocessable"


def http_status(err: TideoverError) -> int:
    """The HTTP status that answers ``err`` (500 for a kind the table does not know: a bug)."""
    return HTTP_STATUS.get(err.kind, 500)
