"""Event bodies are stored zstd-compressed with the shipped dictionary and read back as the exact
canonical bytes their hash was made over; a body that cannot be read back is a clear integrity error
about that event alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import zstandard

from app.services import tasks as ts
from app.services.demo import example_answers
from app.store import bodies, integrity
from app.store.bodies import MAX_EVENT_BYTES, DamagedBody, decode, encode
from sync.canonical import canonical_bytes
from sync.events import recompute_hash

ROOT = Path(__file__).resolve().parent.parent


def _rows(store):
    return store.db.conn.execute("SELECT seq, event_id, device_seq, hash, body, body_codec FROM events"
                                 " ORDER BY seq").fetchall()


def test_bodies_are_stored_compressed_and_read_back_as_the_canonical_bytes(demo_store):
    rows = _rows(demo_store)
    assert rows and all(codec == bodies.CURRENT_CODEC and isinstance(body, bytes)
                        for _seq, _id, _dseq, _hash, body, codec in rows)
    stored = canonical = 0
    for _seq, event_id, _dseq, stored_hash, body, codec in rows:
        text = decode(body, codec)
        parsed = orjson.loads(text)
        assert text == canonical_bytes(parsed)  # the very bytes the hash is over
        assert parsed["event_id"] == event_id and recompute_hash(parsed) == stored_hash == parsed["hash"]
        stored, canonical = stored + len(body), canonical + len(text)
    assert stored * 3 < canonical  # a ward's events are alike: the dictionary pays
    assert demo_store.verify() == len(rows)


def test_a_body_the_dictionary_cannot_shrink_is_kept_as_text():
    tiny = b"{}"
    assert encode(tiny) == ("{}", None)
    assert decode("{}", None) == tiny


def test_an_event_larger_than_any_event_may_be_is_not_stored():
    with pytest.raises(DamagedBody, match="larger than any event may be"):
        encode(b" " * (MAX_EVENT_BYTES + 1))


def _damage(store, seq: int, body) -> None:
    conn = store.db.conn
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("UPDATE events SET body = ? WHERE seq = ?", [body, seq])


def _answers_row(store, workflow: str):
    task = ts.get_task(store, store.made[workflow])
    return store.db.conn.execute("SELECT seq, body, body_codec FROM events WHERE event_id = ?",
                                 [task["answers_event_id"]]).fetchone(), task


def _bomb() -> bytes:
    """A frame that says it holds more than any event (its content is spaces: a few bytes compressed)."""
    return zstandard.ZstdCompressor(dict_data=bodies.dictionary(bodies.CURRENT_CODEC)).compress(
        b" " * (MAX_EVENT_BYTES + 1))


@pytest.mark.parametrize(("damage", "why"), [
    (lambda body: body[: len(body) // 2], "zstd"),  # cut short
    (lambda body: body[:6] + bytes(b ^ 0xFF for b in body[6:]), "zstd|holds"),  # scrambled
    (lambda body: body + b"\x00trailing", "zstd"),  # bytes after its end
    (lambda body: _bomb(), "claims \\d+ bytes, more than any event may hold"),  # a decompression bomb
])
def test_a_damaged_body_is_an_integrity_error_that_names_its_event_and_loses_nothing_else(demo_store, damage, why):
    (seq, body, codec), task = _answers_row(demo_store, "referral")
    other = demo_store.made["ed_triage"]
    before = integrity.projection_digest(demo_store)
    _damage(demo_store, seq, damage(body))

    with pytest.raises(DamagedBody, match=why) as err:
        demo_store.verify()
    assert err.value.kind == "chain_broken" and err.value.event_id == task["answers_event_id"]
    assert "cannot be read" in str(err.value)
    with pytest.raises(DamagedBody):
        ts.show_task(demo_store, task["task_id"], record_view=False)
    with pytest.raises(DamagedBody):
        integrity.rebuild_projections(demo_store)
    # Nothing else is lost: the projections are as they were, other tasks open, new work is recorded.
    assert integrity.projection_digest(demo_store) == before
    assert ts.show_task(demo_store, other, record_view=False)["answers"]["item"]
    captured = ts.capture_task(demo_store, "ed_triage", "P100002", example_answers("ed_triage"))
    assert ts.get_task(demo_store, captured.task_id)["status"] == "requested"


def test_a_body_made_with_a_dictionary_this_version_lacks_is_named_as_such(demo_store):
    (seq, body, _codec), task = _answers_row(demo_store, "referral")
    conn = demo_store.db.conn
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("UPDATE events SET body_codec = 99 WHERE seq = ?", [seq])
    with pytest.raises(DamagedBody, match="dictionary 99, which this version of Tideover does not have"):
        ts.show_task(demo_store, task["task_id"], record_view=False)


def test_the_trainer_makes_a_dictionary_from_synthetic_events(tmp_path):
    """packaging/train_body_dictionary.py runs as IT would run it and gives a dictionary with the id asked for."""
    out = tmp_path / "events-9.zdict"
    proc = subprocess.run([sys.executable, str(ROOT / "packaging" / "train_body_dictionary.py"), "--out", str(out),
                           "--id", "9", "--tasks", "40", "--size", "8192"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    trained = zstandard.ZstdCompressionDict(out.read_bytes())
    assert trained.dict_id() == 9 and len(out.read_bytes()) <= 8192
    sample = canonical_bytes(forms_response())
    packed = zstandard.ZstdCompressor(dict_data=trained).compress(sample)
    assert len(packed) * 2 < len(sample)
    assert zstandard.ZstdDecompressor(dict_data=trained).decompress(packed) == sample


def forms_response() -> dict:
    import forms

    return forms.validate_answers("ed_triage", example_answers("ed_triage"))
