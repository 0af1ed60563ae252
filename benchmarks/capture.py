"""Capture speed on a workstation store that already holds many events, and what the store costs.

    python benchmarks/capture.py --prefill 1000000 --events 2000 --json

Prints one JSON object:
  capture_p50_ms, capture_p99_ms, capture_per_s   ``capture_task`` through the real record path
  raw_sqlcipher_per_s, raw_sqlcipher_p99_ms       the baseline, measured in the same run on the same disk:
      one-row transactions into a SQLCipher file opened the same way (WAL, synchronous=FULL, raw key)
      whose table has the store's own shape (the events table's columns, keys and indexes) and is
      prefilled with the same rows as the store's event log
  ratio                                           capture_per_s / raw_sqlcipher_per_s
  rebuild_events_per_s                            projections rebuilt from every event (wall clock);
                                                  rebuild_events_per_cpu_s over the process's CPU time,
                                                  with load_avg_1m, for a machine other jobs share
  bytes_per_event                                 the store's file (and WAL) over the events it holds,
                                                  projections and indexes included
  rss_mb, max_rss_mb                              resident memory after capture; its peak over the run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from app.services import tasks as ts
from app.services.demo import DEMO_PASSWORD, example_answers, seed_demo
from app.store import eventlog, integrity
from app.store.database import open_encrypted
from app.store.projections import rebuild
from app.store.store import Store
from forms import WORKFLOWS, summarize, validate_answers
from sync.events import new_id


def prefill(store: Store, n: int, batch: int = 500) -> None:
    """Fill the store with ``n`` task.created events through the real record path, in big batches."""
    responses = {w: validate_answers(w, example_answers(w)) for w in WORKFLOWS}
    done = 0
    while done < n:
        items = []
        for i in range(min(batch, n - done)):
            w = WORKFLOWS[(done + i) % len(WORKFLOWS)]
            task_id = new_id()
            items.append(("task.created", {"patient_id": f"P{100001 + (done + i) % 24}",
                                           "answers": responses[w], "summary": summarize(w, responses[w])},
                          None, {"workflow": w, "task_id": task_id, "base_version": 0,
                                 "correlation_id": task_id}))
        store.record_many(items)
        done += len(items)
        if sys.stderr.isatty():
            print(f"\rprefill {done}/{n}", end="", file=sys.stderr)
    if sys.stderr.isatty():
        print(file=sys.stderr)


class RawSQLCipher:
    """The baseline: one-row transactions into a SQLCipher file opened like the store, holding a table of
    the store's own shape (the events table's columns, keys and indexes, no triggers) prefilled with the
    same rows as the store's event log, so both insert into a table of the same size."""

    def __init__(self, folder: Path, store: Store):
        self.db = open_encrypted(folder / "raw.db", secrets.token_bytes(32))
        src = store.db.conn
        shape = [sql for (sql,) in src.execute("SELECT sql FROM sqlite_master WHERE tbl_name = 'events' AND type IN "
                                               "('table', 'index') AND sql IS NOT NULL ORDER BY type DESC")]
        self.columns = [r[1] for r in src.execute("PRAGMA table_info(events)") if r[1] != "seq"]
        self.db.conn.execute("BEGIN")
        for sql in shape:
            self.db.conn.execute(sql)
        names, marks = ", ".join(self.columns), ", ".join("?" for _ in self.columns)
        self.insert_sql = f"INSERT INTO events ({names}) VALUES ({marks})"
        cur = src.execute(f"SELECT {names} FROM events ORDER BY seq")
        while rows := cur.fetchmany(10_000):
            self.db.conn.executemany(self.insert_sql, rows)
        self.db.conn.execute("COMMIT")
        self.template = dict(zip(self.columns, src.execute(f"SELECT {names} FROM events WHERE type = 'task.created'"
                                                           f" ORDER BY seq DESC LIMIT 1").fetchone(), strict=True))
        self.next_seq = self.db.conn.execute("SELECT max(device_seq) FROM events").fetchone()[0] + 1
        self.rows, self.seconds, self.latencies = 0, 0.0, []

    def insert(self, n: int) -> None:
        """``n`` rows like a captured task's creation (new event and task ids), each its own transaction."""
        t0 = time.perf_counter()
        for _ in range(n):
            row = {**self.template, "event_id": new_id(), "task_id": new_id(), "device_seq": self.next_seq}
            self.next_seq += 1
            t1 = time.perf_counter()
            self.db.conn.execute("BEGIN IMMEDIATE")
            self.db.conn.execute(self.insert_sql, [row[c] for c in self.columns])
            self.db.conn.execute("COMMIT")
            self.latencies.append((time.perf_counter() - t1) * 1000)
        self.seconds += time.perf_counter() - t0
        self.rows += n

    def per_s(self) -> float:
        return self.rows / self.seconds


def store_bytes(folder: Path) -> int:
    """The store's database file and its write-ahead log, as they take space on disk."""
    return sum(p.stat().st_size for p in (folder / "tideover.db", folder / "tideover.db-wal") if p.exists())


def rss_mb() -> float:
    """Resident memory of this process now (Linux /proc), in MiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prefill", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--dir", type=Path, help="work folder (default: a temp folder, removed after)")
    args = ap.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="tideover-bench-"))
    try:
        store, _ = seed_demo(folder / "store")
        t0 = time.perf_counter()
        prefill(store, args.prefill)
        prefill_s = time.perf_counter() - t0
        store.close()

        t0 = time.perf_counter()
        store = Store.open(folder / "store", "nina", DEMO_PASSWORD)
        unlock_ms = (time.perf_counter() - t0) * 1000

        answers = {w: example_answers(w) for w in WORKFLOWS}
        t0 = time.perf_counter()
        raw = RawSQLCipher(folder, store)
        raw_prefill_s = time.perf_counter() - t0
        latencies, capture_s, block = [], 0.0, 100
        # Interleave capture and baseline in blocks so both see the same disk and machine load.
        for start in range(0, args.events, block):
            n = min(block, args.events - start)
            t_block = time.perf_counter()
            for i in range(start, start + n):
                w = WORKFLOWS[i % len(WORKFLOWS)]
                t0 = time.perf_counter()
                ts.capture_task(store, w, f"P{100001 + i % 24}", answers[w])
                latencies.append((time.perf_counter() - t0) * 1000)
            capture_s += time.perf_counter() - t_block
            raw.insert(n)
        capture_per_s = args.events / capture_s
        raw_per_s = raw.per_s()
        raw.db.conn.close()
        capture_rss_mb = rss_mb()

        store_events = eventlog.event_count(store)
        before = integrity.projection_digest(store)
        t0, cpu0 = time.perf_counter(), time.process_time()
        applied = rebuild(store.db)
        rebuild_per_s = applied / (time.perf_counter() - t0)
        rebuild_per_cpu_s = applied / max(time.process_time() - cpu0, 1e-9)
        if integrity.projection_digest(store) != before:
            raise SystemExit("rebuild changed the projections: that is a bug, not a benchmark result")
        store.close()
        size = store_bytes(folder / "store")
        result = {
            "prefill": args.prefill, "events": args.events, "store_events": store_events,
            "capture_p50_ms": round(statistics.median(latencies), 3),
            "capture_p99_ms": round(percentile(latencies, 0.99), 3),
            "capture_per_s": round(capture_per_s, 1), "raw_sqlcipher_per_s": round(raw_per_s, 1),
            "ratio": round(capture_per_s / raw_per_s, 3),
            "raw_sqlcipher_p99_ms": round(percentile(raw.latencies, 0.99), 3), "unlock_ms": round(unlock_ms, 1),
            "rebuild_events_per_s": round(rebuild_per_s, 1),
            # The rebuild's own CPU time: on a shared machine wall-clock rates follow the CPU left over.
            "rebuild_events_per_cpu_s": round(rebuild_per_cpu_s, 1), "load_avg_1m": round(os.getloadavg()[0], 2),
            "bytes_per_event": round(size / store_events), "db_mb": round(size / 2**20, 1),
            "rss_mb": round(capture_rss_mb, 1),
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "prefill_s": round(prefill_s, 1), "raw_prefill_s": round(raw_prefill_s, 1),
        }
        print(json.dumps(result, indent=None if args.json else 2))
        return 0
    finally:
        if not args.dir:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
