"""Errors raised by the use cases on bad input from a person."""

from __future__ import annotations

from sync.errors import TideoverError


class InputError(TideoverError):
    """The input cannot be used as given; the message says what to change."""

    kind = "bad_input"
