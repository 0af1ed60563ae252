"""Sync under faults, for many rounds: after every round the central holds exactly the events the
workstation captured, none lost and none twice.

    python benchmarks/chaos.py --rounds 20 [--db postgresql://...] [--seed 7]

Each round captures events, then syncs through one fault: the client killed (SIGKILL) during
push, responses lost after the central committed, injected 5xx and timeouts, batches delivered
twice and late (out of order), the central killed and restarted mid-batch, or the workstation's
folder restored from a copy taken earlier in the round (then `recover-chain`). Then it syncs
cleanly and compares the central with the workstation. Prints one JSON object of counts; exits 1
if any round lost or doubled an event. The test suite runs the same rounds (tests/central).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import sqlalchemy as sa

from app.services import sync as sync_service
from app.services.demo import DEMO_PASSWORD
from app.store.store import Store
from sync.central.db import CentralDB, events, quarantine
from sync.central.enroll import create_token

SCENARIOS = ("client_killed", "lost_responses", "errors_and_timeouts", "twice_and_out_of_order",
             "central_restarted", "restored_from_backup")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CentralProcess:
    """``tideover-central serve`` in a subprocess, so it can be killed -9 and started again."""

    def __init__(self, db_url: str, port: int | None = None):
        self.db_url, self.port = db_url, port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "sync.central.cli", "serve", "--db", self.db_url,
                                      "--port", str(self.port)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"tideover-central exited with {self.proc.returncode}")
            time.sleep(0.05)
        raise RuntimeError("tideover-central did not become ready")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def restart(self) -> None:
        self.kill()
        self.start()


class FaultyTransport(httpx.BaseTransport):
    """A real HTTP transport that injects faults around it, counting each one."""

    def __init__(self, rng: random.Random, *, lost=0.0, errors=0.0, timeouts=0.0, twice=0.0, late=0.0):
        self.inner = httpx.HTTPTransport()
        self.rng, self.p = rng, {"lost": lost, "errors": errors, "timeouts": timeouts, "twice": twice,
                                 "late": late}
        self.sent: list[httpx.Request] = []
        self.counts: Counter = Counter()

    def _send(self, request: httpx.Request) -> httpx.Response:
        resp = self.inner.handle_request(request)
        resp.read()
        return resp

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        push = request.url.path == "/v1/push"
        request.read()
        if push and self.rng.random() < self.p["timeouts"]:
            self.counts["timeout_before_send"] += 1
            raise httpx.ReadTimeout("injected timeout", request=request)
        if push and self.rng.random() < self.p["errors"]:
            self.counts["injected_503"] += 1
            return httpx.Response(503, json={"error": "unavailable", "detail": "injected"}, request=request)
        resp = self._send(request)
        if push and self.rng.random() < self.p["twice"]:
            self.counts["delivered_twice"] += 1
            resp = self._send(request)
        if push and self.sent and self.rng.random() < self.p["late"]:
            self.counts["old_batch_delivered_late"] += 1
            self._send(self.rng.choice(self.sent))
        if push:
            self.sent = (self.sent + [request])[-20:]
        if push and self.rng.random() < self.p["lost"]:
            self.counts["response_lost_after_commit"] += 1
            raise httpx.ReadError("injected: response lost", request=request)
        return resp


def capture_some(store: Store, rng: random.Random, n: int) -> None:
    """``n`` events through the real record path: small views and notes, the shape of a busy ward."""
    items = [("access.view", {"what": "board", "count": rng.randint(1, 40)}, None, {}) for _ in range(n)]
    store.record_many(items)


def check(store: Store, db: CentralDB) -> dict:
    """Compare what the central holds for this device with what the workstation captured."""
    own = [r["event_id"] for r in store.query("SELECT event_id FROM events WHERE device_id = ?", [store.device_id])]
    with db.read() as conn:
        held = [r[0] for r in conn.execute(sa.select(events.c.event_id).where(
            events.c.device_id == store.device_id))]
        held_back = conn.execute(sa.select(sa.func.count()).select_from(quarantine).where(
            quarantine.c.device_id == store.device_id)).scalar_one()
    return {"captured": len(own), "held": len(held), "missing": len(set(own) - set(held)),
            "unexpected": len(set(held) - set(own)), "twice": len(held) - len(set(held)),
            "held_back": held_back, "pending": store.pending_count()}


class Chaos:
    def __init__(self, workdir: Path, db_url: str, seed: int = 7, events_per_round: int = 300):
        self.workdir, self.rng, self.n = workdir, random.Random(seed), events_per_round
        self.db = CentralDB(db_url)
        self.db.migrate()
        self.central = CentralProcess(db_url)
        self.data_dir = workdir / "ws"
        self.totals: Counter = Counter()

    def __enter__(self):
        self.central.start()
        store, _ = Store.create(self.data_dir, site_id="chaos-general", unit_id="ward-1", admin_id="admin",
                                admin_name="Chaos Admin", password=DEMO_PASSWORD)
        token, _ = create_token(self.db, "chaos-general", "ward-1")
        from app.services.enrollment import enroll

        enroll(store, self.central.url, token)
        store.close()
        return self

    def __exit__(self, *exc):
        self.central.kill()
        self.db.dispose()

    def _open(self) -> Store:
        return Store.open(self.data_dir, "admin", DEMO_PASSWORD)

    def _sync(self, store: Store, transport=None, attempts: int = 12, batch_size: int | None = None) -> None:
        retry = sync_service.Retry(attempts=attempts, base=0.02, cap=0.5)
        try:
            sync_service.sync(store, sync_service.Link.from_store(store), transport=transport, retry=retry,
                              batch_size=batch_size or self.rng.choice([7, 25, 100]))
        except sync_service.SyncError:
            self.totals["sync_gave_up"] += 1

    def round(self, scenario: str) -> dict:
        store = self._open()
        capture_some(store, self.rng, self.n)
        if scenario == "client_killed":
            store.close()
            self._kill_client()
            store = self._open()
        elif scenario == "restored_from_backup":
            store = self._restore_from_backup(store)
        elif scenario == "central_restarted":
            timer = threading.Timer(self.rng.uniform(0.05, 0.4), self._restart_central)
            timer.start()
            self._sync(store, attempts=40, batch_size=5)
            timer.join()
        else:
            faults = {"lost_responses": {"lost": 0.5},
                      "errors_and_timeouts": {"errors": 0.3, "timeouts": 0.3},
                      "twice_and_out_of_order": {"twice": 0.4, "late": 0.5}}[scenario]
            transport = FaultyTransport(self.rng, **faults)
            self._sync(store, transport, batch_size=7)
            self.totals.update(transport.counts)
        self._sync(store)  # a clean sync drains whatever the fault left
        result = check(store, self.db)
        store.close()
        self.totals[scenario] += 1
        return result

    def _restore_from_backup(self, store: Store) -> Store:
        """Copy the folder, work and sync on, put the copy back, work on it, then recover the chain as
        an admin would (with lost answers on the way)."""
        import shutil

        from app.services import chain_recovery

        store.close()
        copy = self.workdir / "backup"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(self.data_dir, copy)
        store = self._open()
        capture_some(store, self.rng, self.rng.randint(1, self.n))
        self._sync(store)
        store.close()
        shutil.rmtree(self.data_dir)
        shutil.copytree(copy, self.data_dir)
        store = self._open()
        capture_some(store, self.rng, self.rng.randint(0, 40))
        self._sync(store)
        if store.meta().get("chain_fork"):
            self.totals["restored_from_backup_forked"] += 1
        transport = FaultyTransport(self.rng, lost=0.3)
        try:
            chain_recovery.recover_chain(store, sync_service.Link.from_store(store), transport=transport,
                                         retry=sync_service.Retry(attempts=12, base=0.02, cap=0.5))
        except sync_service.SyncError:
            self.totals["sync_gave_up"] += 1
        self.totals.update(transport.counts)
        self.totals["restored_and_recovered"] += 1
        return store

    def _held_count(self) -> int:
        with self.db.read() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()

    def _kill_client(self) -> None:
        """Run ``tideover sync`` in a subprocess and SIGKILL it once the central has taken part of the push."""
        env = {**os.environ, "TIDEOVER_PASSWORD": DEMO_PASSWORD}
        for _ in range(2):
            before = self._held_count()
            proc = subprocess.Popen([sys.executable, "-m", "app.cli", "--data-dir", str(self.data_dir), "--user",
                                     "admin", "sync", "--batch-size", "5"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while proc.poll() is None and self._held_count() == before and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(self.rng.uniform(0, 0.2))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                self.totals["client_killed_mid_sync"] += 1
            proc.wait(30)

    def _restart_central(self) -> None:
        self.central.restart()
        self.totals["central_killed_and_restarted"] += 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--db", help="central database URL (default: a SQLite file in a temp folder)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--events", type=int, default=300, help="events captured per round")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tideover-chaos-") as tmp:
        db_url = args.db or str(Path(tmp) / "central.db")
        bad_rounds = 0
        with Chaos(Path(tmp), db_url, args.seed, args.events) as chaos:
            last = {}
            for i in range(args.rounds):
                last = chaos.round(SCENARIOS[i % len(SCENARIOS)])
                if last["missing"] or last["unexpected"] or last["twice"] or last["pending"]:
                    bad_rounds += 1
            out = {"rounds": args.rounds, "bad_rounds": bad_rounds, "faults": dict(chaos.totals), "final": last}
    print(json.dumps(out, indent=2))
    return 1 if bad_rounds else 0


if __name__ == "__main__":
    sys.exit(main())
