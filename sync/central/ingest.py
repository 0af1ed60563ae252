"""Taking in one push batch: the same code answers HTTP pushes and bundle imports.

Order of work, cheapest refusal first and the write lock last, one module per job:
1. shape (``ingest_envelope.parse_push``): a dict check of the envelope and of each event's chain fields;
2. ownership, 3. the signed checkpoint, 4. the chain inside the batch (``ingest_chain.check_batch``):
   contiguous ``device_seq``, each ``prev_hash`` links, each hash recomputed from the body (so the
   signature vouches for every event of the batch);
5. meaning (``ingest_rules``): what each event is answered, decided without the database where it can be;
6. under the write lock (``ingest_write``): the link to what the central holds, then per-event answers
   and inserts, in one transaction; the SQL of it, per dialect, is in ``db_ingest``.

Steps 1-4 and a mismatch with the held chain refuse the whole batch (nothing written). Past
that, each event gets its own answer: an event a workstation could not take (``sync.validity``,
the one rule of both ends) is quarantined or rejected, the chain goes on, and the rest of the
queue is not blocked.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from sync.clock import Clock, iso

from . import actors, clocks, db_ingest
from .db import CentralDB
from .enroll import Device
from .errors import Refused
from .ingest_chain import check_batch
from .ingest_envelope import PushBatch, parse_push
from .ingest_rules import meaning_problem, verdict
from .ingest_write import write_batch

__all__ = ["CHAIN_DIFFERS", "REORDER_WAIT", "Outcome", "PushBatch", "check_batch", "ingest", "meaning_problem",
           "parse_push"]

CHAIN_DIFFERS = "chain_differs"  # the device_audit action of a batch that contradicts the central's copy

REORDER_WAIT = 2.0  # seconds a batch waits for the one before it to be taken


@dataclass
class Outcome:
    """What the central answered for one batch, plus counts for the metrics."""

    device_id: str
    results: list[dict]
    highest_gapless_seq: int
    counts: Counter = field(default_factory=Counter)  # (site, unit, workflow, result) -> n
    clock_offset_s: float | None = None

    def response(self) -> dict:
        answer = {"device_id": self.device_id, "results": self.results,
                  "highest_gapless_seq": self.highest_gapless_seq}
        if self.clock_offset_s is not None:
            answer["clock_offset_s"] = self.clock_offset_s
        return answer


def ingest(db: CentralDB, device: Device, batch: PushBatch, clock: Clock | None = None,
           reorder_wait: float = REORDER_WAIT) -> Outcome:
    """Answer one batch and write what it adds, in one transaction. Raises Refused (nothing written).

    A batch that starts past the device's head waits up to ``reorder_wait`` seconds for the batch
    before it (a client keeps two in flight), then is refused as a gap.
    """
    clock = clock or Clock()
    received = clock.now()
    reading = clocks.reading(batch.device_clock, received)
    evs, texts = check_batch(device, batch)
    deadline = time.monotonic() + reorder_wait
    if db.dialect == "postgresql":
        # The meaning checks need no lock: they run now, while the batch before may still be written
        # (the PostgreSQL writer mostly waits on the server; SQLite's writes in process, and
        # competing with it for the CPU measured slower there).
        seen = db_ingest.head_seq(db, device.device_id)
        verdicts = _verdicts(evs, seen, device, reading, texts)
        if seen < evs[0]["device_seq"] - 1:
            seen = _wait_for_head(db, device.device_id, evs[0]["device_seq"] - 1, deadline)
    else:
        seen = _wait_for_head(db, device.device_id, evs[0]["device_seq"] - 1, deadline)
        verdicts = _verdicts(evs, seen, device, reading, texts)
    now = iso(received)
    try:
        # Held events never change, so a batch the first look found all held needs no write lock.
        with (db.read() if evs[-1]["device_seq"] <= seen else db.write()) as conn:
            written = write_batch(db, conn, device, batch, evs, texts, verdicts, now, reading)
    except Refused as err:
        if getattr(err, "against_reference", False):
            db_ingest.record_differing_chain(db, device.device_id, CHAIN_DIFFERS,
                                             f"seq {err.device_seq}: {err.detail}", now)
        raise
    actors.remember(db, written.grants)  # committed
    return Outcome(device.device_id, written.results, written.highest_gapless_seq, written.counts, reading.offset_s)


def _verdicts(evs: list[dict], seen: int, device: Device, reading: clocks.ClockReading,
              texts: dict[int, str]) -> dict:
    """seq -> verdict (None: simply taken) of each event past the head ``seen``."""
    return {ev["device_seq"]: verdict(ev, device, reading, texts[ev["device_seq"]])
            for ev in evs if ev["device_seq"] > seen}


def _wait_for_head(db: CentralDB, device_id: str, needed: int, deadline: float) -> int:
    """The device's head, once it reaches ``needed`` or the ``deadline`` (time.monotonic) has passed."""
    while True:
        head = db_ingest.head_seq(db, device_id, after_writer=True)
        if head >= needed or time.monotonic() >= deadline:
            return head
        time.sleep(0.002)
