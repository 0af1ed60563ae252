"""Canonical JSON (RFC 8785 style) and the SHA-256 used for event chains.

We use orjson with sorted keys instead of a pure-Python RFC 8785 library: that library costs
~110 µs per event against a few µs here, and the central recomputes every hash on ingest. The two agree byte for byte as long as numbers are normalized
on entry (``normalize``): integral floats become ints, and no float is non-finite or outside
the range where Python and ECMAScript print numbers differently. Keys are ASCII, so code-point
and UTF-16 key order agree. ``tests/test_canonical.py`` checks the agreement with ``rfc8785``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

from .errors import InvalidEvent

GENESIS_HASH = "0" * 64
_FLOAT_MIN = 1e-4  # below this Python prints an exponent where RFC 8785 does not
_FLOAT_MAX = 1e15
_INT_MAX = 2**53 - 1  # the largest integer every JSON reader holds exactly


def canonical_json(obj: Any) -> str:
    """The one canonical text of a JSON value: sorted keys, no spaces, UTF-8."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError as err:
        raise InvalidEvent(f"A value cannot be part of an event: {err}") from None


def canonical_bytes(obj: Any) -> bytes:
    """``canonical_json`` as the UTF-8 bytes that are hashed, without a round trip through str."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except TypeError as err:
        raise InvalidEvent(f"A value cannot be part of an event: {err}") from None


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalize(value: Any) -> Any:
    """Return a copy of ``value`` (JSON-shaped) with numbers in the form whose canonical text is unambiguous.

    Done as a JSON round trip so the walk runs in C; only floats reach Python code.
    """
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except ValueError:
        raise InvalidEvent("Numbers must be finite.") from None
    except TypeError as err:
        raise InvalidEvent(f"A value cannot be part of an event: {err}") from None
    return json.loads(text, parse_float=_normal_float, parse_int=_safe_int)


def numbers_normal(value: Any) -> bool:
    """Whether every number in ``value`` (JSON-shaped) is already as ``normalize`` leaves it: no
    integral or out-of-range float, no integer beyond 2**53 - 1. A walk, without copying."""
    stack = [value]
    pop, extend = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is dict:
            extend(item.values())
        elif kind is list:
            extend(item)
        elif kind is float:
            if item.is_integer() or not _FLOAT_MIN <= abs(item) < _FLOAT_MAX:  # NaN fails the range test too
                return False
        elif kind is int and not -_INT_MAX <= item <= _INT_MAX:
            return False
    return True


def _safe_int(text: str) -> int:
    value = int(text)
    if abs(value) > _INT_MAX:
        raise InvalidEvent(f"The number {text} is too large for an event.")
    return value


def _normal_float(text: str) -> float | int:
    value = float(text)
    if value.is_integer() and abs(value) < _FLOAT_MAX:
        return int(value)
    if not (_FLOAT_MIN <= abs(value) < _FLOAT_MAX):
        raise InvalidEvent(f"The number {text} is outside the range an event may hold.")
    return value


def event_hash(body_without_hash: dict) -> str:
    """SHA-256 over the canonical JSON of an event with its ``hash`` field left out."""
    return sha256_hex(canonical_json(body_without_hash))
