"""Event bodies at rest: zstd with a dictionary trained on synthetic events, shipped with the app.

An event's hash is over its canonical bytes as it was sent (``sync.canonical``); the store keeps
those bytes compressed, and reading gives back exactly the same bytes, so every hash still checks.

Each stored body sits next to its codec id (``events.body_codec``):

- ``NULL``: the canonical JSON text itself (events stored before migration 7, and any body the
  dictionary would not make smaller);
- ``1`` (``events-1.zdict``): a zstd frame made with that dictionary.

A new dictionary gets the next id and a new file; the old files stay, so every body ever written
stays readable. ``packaging/train_body_dictionary.py`` trains one from synthetic events.

A stored body is not trusted: a frame that claims more than ``MAX_EVENT_BYTES`` (a decompression
bomb), does not decode, or carries bytes after its end is refused with ``DamagedBody``, naming the
event, and nothing is read past it.
"""

from __future__ import annotations

import threading
from functools import cache
from importlib import resources

import zstandard

from sync.errors import ChainBroken
from sync.protocol import MAX_BODY_BYTES

# No single event can be larger than a whole push batch may be.
MAX_EVENT_BYTES = MAX_BODY_BYTES
CURRENT_CODEC = 1
DICTIONARY_FILES = {1: "events-1.zdict"}
LEVEL = 3  # higher levels save a few bytes an event and cost capture time (benchmarks/capture.py)


class DamagedBody(ChainBroken):
    """A stored event body that cannot be read back: damaged, unknown codec, or oversized."""


@cache
def dictionary(codec: int) -> zstandard.ZstdCompressionDict:
    """The shipped dictionary of ``codec`` (one of DICTIONARY_FILES), loaded once; shared read-only."""
    data = resources.files("app.store").joinpath("dictionaries", DICTIONARY_FILES[codec]).read_bytes()
    d = zstandard.ZstdCompressionDict(data, dict_type=zstandard.DICT_TYPE_FULLDICT)
    d.precompute_compress(level=LEVEL)
    return d


# Compressor and decompressor objects are not thread-safe, and making one per body costs more than
# compressing it: each thread (the app's store worker, a test's second store) keeps its own.
_local = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    cctx = getattr(_local, "cctx", None)
    if cctx is None:
        cctx = _local.cctx = zstandard.ZstdCompressor(
            dict_data=dictionary(CURRENT_CODEC), write_checksum=False, write_dict_id=False,
            write_content_size=True)
    return cctx


def _decompressor(codec: int) -> zstandard.ZstdDecompressor:
    cache_ = getattr(_local, "dctx", None)
    if cache_ is None:
        cache_ = _local.dctx = {}
    dctx = cache_.get(codec)
    if dctx is None:
        dctx = cache_[codec] = zstandard.ZstdDecompressor(dict_data=dictionary(codec))
    return dctx


def encode(canonical: bytes) -> tuple[bytes | str, int | None]:
    """(what to store, its codec id) for an event's canonical bytes."""
    if len(canonical) > MAX_EVENT_BYTES:
        raise DamagedBody(f"An event of {len(canonical)} bytes is larger than any event may be "
                          f"({MAX_EVENT_BYTES} bytes); it was not stored.")
    packed = _compressor().compress(canonical)
    if len(packed) >= len(canonical):
        return canonical.decode("utf-8"), None
    return packed, CURRENT_CODEC


def decode(stored: bytes | str, codec: int | None, *, event_id: str = "", device_seq: int = 0) -> bytes:
    """The canonical bytes of a stored body; raises DamagedBody if it cannot be read back whole."""
    if codec is None:
        return stored.encode("utf-8") if isinstance(stored, str) else bytes(stored)

    def damaged(why: str) -> DamagedBody:
        return DamagedBody(f"Event {event_id or '(unknown)'} (seq {device_seq}): its stored body cannot be read "
                           f"({why}); run `tideover audit verify` and call IT. Other events are not affected.",
                           device_seq=device_seq, event_id=event_id)

    if not isinstance(stored, bytes):
        raise damaged("a compressed body stored as text")
    if codec not in DICTIONARY_FILES:
        raise damaged(f"it was made with dictionary {codec}, which this version of Tideover does not have; "
                      f"install the version that wrote it")
    try:
        size = zstandard.frame_content_size(stored)
    except zstandard.ZstdError as err:
        raise damaged(f"not a zstd frame: {err}") from None
    if size < 0 or size > MAX_EVENT_BYTES:
        # The frame says how much it holds before anything is allocated: refuse a bomb unopened.
        raise damaged(f"it claims {'an unknown size' if size < 0 else f'{size} bytes'}, more than any event "
                      f"may hold")
    try:
        text = _decompressor(codec).decompress(stored, max_output_size=MAX_EVENT_BYTES, allow_extra_data=False)
    except zstandard.ZstdError as err:
        raise damaged(f"zstd: {err}") from None
    if len(text) != size:
        raise damaged(f"it holds {len(text)} bytes, not the {size} its frame says")
    return text


INSERT_EVENT = ("INSERT INTO events (event_id, device_id, device_seq, type, task_id, hlc, hash, body, body_codec)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


def insert_event(conn, body: dict, canonical: bytes) -> int:
    """Append one event row (``canonical``: its canonical bytes) inside the caller's transaction; its seq."""
    stored, codec = encode(canonical)
    return conn.execute(INSERT_EVENT, [body["event_id"], body["device_id"], body["device_seq"], body["type"],
                                       body.get("task_id"), body["hlc"], body["hash"], stored, codec]).lastrowid
