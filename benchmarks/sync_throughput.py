"""Sync throughput: a workstation's outbox to the central and acknowledged, over real HTTP on loopback.

    python benchmarks/sync_throughput.py --events 100000 --backend sqlite --json
    python benchmarks/sync_throughput.py --events 100000 --backend postgresql --json

(Named so that it does not shadow the ``sync`` package when run as a script: no benchmark's name
may be an importable module, see tests/test_architecture.py.)

Prints one JSON object:
- ``sync_per_s``: events pushed from the outbox, checked and stored by the central
  (``tideover-central serve`` in its own process) and marked synced from its answers, each answer
  signed by the central and verified by the workstation against the key pinned at enrollment;
- ``raw_ingest_per_s``: the same events bulk-inserted in process into the same backend and schema in
  batches of 1,000 (no checks), in the same run, by the central's own insert: on PostgreSQL one
  ``INSERT ... SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING`` per batch, the fastest path it has;
  on SQLite INSERT OR IGNORE of the batch;
- ``ratio`` = sync_per_s / raw_ingest_per_s;
- ``dup_pass_per_s``: the same events pushed again with no local sync state (all answered duplicate);
- ``backend``.
The events are a ward's mix: per task, a ``task.created`` with the workflow's form answers and
two ``task.transitioned``. PostgreSQL runs as a private cluster started here (fsync on).
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

import forms
from app.services import sync as sync_service
from app.services.demo import DEMO_PASSWORD, example_answers
from app.services.enrollment import enroll
from app.store import eventlog, outbox
from app.store.store import Store
from sync.central.db import CentralDB, events
from sync.central.db_ingest import insert_events
from sync.central.enroll import create_token
from sync.events import new_id

MOVES = [("requested", "accepted"), ("accepted", "in-progress")]


def fill(store: Store, n: int, chunk: int = 999) -> None:
    """``n`` events through the real record path: per task one creation and two transitions."""
    answers = {w: forms.validate_answers(w, example_answers(w)) for w in forms.WORKFLOWS}
    summaries = {w: forms.summarize(w, answers[w]) for w in forms.WORKFLOWS}
    made, items, i = 0, [], 0
    while made < n:
        w = forms.WORKFLOWS[i % len(forms.WORKFLOWS)]
        task_id = new_id()
        items.append(("task.created", {"patient_id": f"P{100001 + i % 24}", "status": "requested",
                                       "priority": "routine", "answers": answers[w], "summary": summaries[w]},
                      None, {"workflow": w, "task_id": task_id, "base_version": 0, "correlation_id": task_id}))
        for v, (frm, to) in enumerate(MOVES, start=1):
            items.append(("task.transitioned", {"from_status": frm, "to_status": to}, None,
                          {"workflow": w, "task_id": task_id, "base_version": v, "correlation_id": task_id}))
        i += 1
        if len(items) >= chunk or made + len(items) >= n:
            take = items[: n - made]
            store.record_many(take)
            made += len(take)
            items = []


class Postgres:
    """A private PostgreSQL cluster on a free loopback port (as user postgres when run as root)."""

    def __init__(self):
        import glob
        import socket

        self.bin = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="tideover-bench-pg-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.as_user = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def __enter__(self):
        run = lambda *c: subprocess.run([*self.as_user, *c], check=True, capture_output=True)  # noqa: E731
        run(str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        run(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w", "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start")
        return self

    def __exit__(self, *exc):
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast",
                        "-w", "stop"], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


def serve(db_url: str, port: int, workers: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "sync.central.cli", "serve", "--db", db_url, "--port", str(port),
                             "--workers", str(workers)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("the central did not start")


def raw_ingest(db_url: str, store: Store) -> tuple[int, float]:
    """Bulk-insert the store's events into a fresh central schema with the central's own insert
    (``insert_events``: unnest arrays on PostgreSQL): no checks, 1,000 per transaction."""
    db = CentralDB(db_url)
    db.migrate()
    rows = []
    for body in eventlog.own_bodies(store):
        ev = json.loads(body)
        rows.append({"event_id": ev["event_id"], "device_id": ev["device_id"], "device_seq": ev["device_seq"],
                     "site_id": ev["site_id"], "unit_id": ev["unit_id"], "type": ev["type"],
                     "workflow": ev.get("workflow"), "task_id": ev.get("task_id"),
                     "base_version": ev.get("base_version"), "hash": ev["hash"], "result": "accepted",
                     "received_at": ev["recorded_at"], "body": body})
    started = time.perf_counter()
    for i in range(0, len(rows), 1000):
        with db.write() as conn:
            left_out = insert_events(db, conn, store.device_id, rows[i:i + 1000])
            assert not left_out, left_out
    elapsed = time.perf_counter() - started
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one() == len(rows)
    db.dispose()
    return len(rows), elapsed


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds so far of a process and its children (Linux /proc): the central's cost."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def forget_answers(store: Store) -> None:
    store.db.execute("DELETE FROM sync_state")
    store.db.execute("DELETE FROM meta WHERE key = 'sync_watermark'")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Sync throughput over real HTTP on loopback.")
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--workers", type=int, default=2, help="central server processes (default: one per core)")
    ap.add_argument("--in-flight", type=int, default=2, help="push batches in flight at once (the client default)")
    ap.add_argument("--json", action="store_true", help="print only the JSON object")
    args = ap.parse_args(argv)
    log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr))
    with tempfile.TemporaryDirectory(prefix="tideover-bench-") as tmp:
        tmp = Path(tmp)
        pg = Postgres().__enter__() if args.backend == "postgresql" else None
        try:
            central_url = pg.database("central") if pg else str(tmp / "central.db")
            raw_url = pg.database("raw") if pg else str(tmp / "raw.db")
            db = CentralDB(central_url)
            db.migrate()
            port = free_port()
            proc = serve(central_url, port, args.workers)
            try:
                store, _ = Store.create(tmp / "ws", site_id="bench-general", unit_id="ward-1", admin_id="admin",
                                        admin_name="Bench Admin", password=DEMO_PASSWORD)
                enroll(store, f"http://127.0.0.1:{port}", create_token(db, "bench-general", "ward-1")[0])
                log(f"filling the outbox with {args.events} events ...")
                fill(store, args.events - store.head.device_seq)
                n = store.head.device_seq
                link = sync_service.Link.from_store(store)
                with sync_service.http_client(link) as client:
                    started, cpu, central_cpu = time.perf_counter(), time.process_time(), cpu_seconds(proc.pid)
                    first = sync_service.push(store, client, in_flight=args.in_flight)
                    first_s = time.perf_counter() - started
                    cpu = {"client_cpu_s": round(time.process_time() - cpu, 3),
                           "central_cpu_s": round(cpu_seconds(proc.pid) - central_cpu, 3)}
                    assert first.results["accepted"] == n and outbox.pending_count(store) == 0, first
                    forget_answers(store)
                    started = time.perf_counter()
                    dup = sync_service.push(store, client, in_flight=args.in_flight)
                    dup_s = time.perf_counter() - started
                    assert dup.results["duplicate"] == n and outbox.pending_count(store) == 0, dup
            finally:
                proc.terminate()
                proc.wait(10)
            raw_n, raw_s = raw_ingest(raw_url, store)
            db.dispose()
        finally:
            if pg:
                pg.__exit__(None, None, None)
    sync_per_s, raw_per_s = n / first_s, raw_n / raw_s
    out = {"backend": args.backend, "events": n, "central_workers": args.workers, "sync_per_s": round(sync_per_s), "raw_ingest_per_s": round(raw_per_s),
           "ratio": round(sync_per_s / raw_per_s, 3), "dup_pass_per_s": round(n / dup_s),
           "dup_speedup": round((n / dup_s) / sync_per_s, 2), "sync_s": round(first_s, 3), "dup_s": round(dup_s, 3),
           "raw_s": round(raw_s, 3), **cpu}
    print(json.dumps(out))
    return 0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
