"""The central's refusal: one error carrying the HTTP status, a reason code and a line for a person."""

from __future__ import annotations

from sync.errors import TideoverError


class Refused(TideoverError):
    """A request or batch the central will not take; nothing of it was written."""

    kind = "refused"

    def __init__(self, status: int, code: str, detail: str, *, device_seq: int | None = None,
                 highest_gapless_seq: int | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.device_seq, self.highest_gapless_seq = device_seq, highest_gapless_seq

    def body(self) -> dict:
        out = {"error": self.code, "detail": self.detail}
        if self.device_seq is not None:
            out["device_seq"] = self.device_seq
        if self.highest_gapless_seq is not None:
            out["highest_gapless_seq"] = self.highest_gapless_seq
        return out
