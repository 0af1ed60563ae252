"""A seeded simulator of a ward's sync under faults: three workstations, one central, many rounds.

    python benchmarks/chaos.py --rounds 2000 --world-rounds 500 [--db postgresql://...] [--seed 7]

Each round, every workstation captures tasks and moves tasks it sees (on its own board, so two
workstations often edit the same task at once), and some of them sync through one fault chosen by
the round's random draw: answers lost after the central committed, 5xx and timeouts, batches sent
twice and late, the central killed (SIGKILL) and restarted mid-push, the sync client killed mid-push,
a hostile enrolled device (a batch signed with the wrong key, another device's events replayed under
its credential, events forged in another device's name), a workstation restored from an older copy
of its data folder, or a workstation whose clock jumps hours ahead or back.

After every round every workstation syncs cleanly, and the round checks what the ward would see:
- the central holds exactly the union of the workstations' own events, each once, and nothing that a
  hostile device forged;
- nothing is left pending, and every workstation's board (task, status, priority, version, patient)
  is the same.
Events held for review at the central for their times (beyond their device's own clock, or more
than a week past the central's: a workstation whose clock wandered that far) are kept, not lost:
they count as held for review, and the tasks they touch are left out of the board comparison.

The check reads every store and the central in full, so a round costs more as the ward's history
grows; ``--world-rounds W`` runs the rounds in wards of W rounds each (a new central and new
workstations for each ward, seeded from ``--seed`` and the ward's number), which keeps a long run's
rounds equally thorough. A failing round prints its replay: the seed, the ward and the round; the
run is a function of them (up to thread timing). Exits 1 if any round failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import orjson
import sqlalchemy as sa

from app.services import chain_recovery
from app.services import sync as sync_service
from app.services import tasks as task_service
from app.services.demo import DEMO_PASSWORD, example_answers, synthetic_census
from app.services.enrollment import enroll
from app.services.patients import import_census
from app.store import eventlog, outbox
from app.store.store import Store
from sync.central.db import CentralDB, events, quarantine
from sync.central.enroll import create_token
from sync.checkpoint import new_signing_key, sign_checkpoint
from sync.clock import Clock, utc_now
from sync.events import new_id, recompute_hash
from sync.protocol import TIME_BEYOND_DEVICE_CLOCK, TIME_IMPLAUSIBLE, push_request_json
from sync.taskstate import allowed_next

SITE, UNIT = "chaos-general", "ward-1"
WORKFLOWS = ("ed_triage", "inpatient_discharge", "med_reconciliation", "referral", "specimen_handoff")
FAULTS = ("none", "lost_answers", "errors_and_timeouts", "twice_and_late", "central_killed",
          "client_killed", "hostile_device", "restored_from_backup", "clock_jump")
# Moves a nurse makes on the simulated board; entered-in-error needs a reason and is left out.
MOVES_LEFT_OUT = frozenset({"entered-in-error"})
# Held for review at the central for their times (sync/central/clocks.py): kept there, shared once released.
TIMES_HELD_FOR_REVIEW = frozenset({TIME_BEYOND_DEVICE_CLOCK, TIME_IMPLAUSIBLE})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# One plain transport for the whole run: httpx builds an SSL context (loading every CA) for each new
# client, which costs more than a whole sync of a few events on loopback.
LOOPBACK = httpx.HTTPTransport()


class CentralProcess:
    """``tideover-central serve`` in a subprocess, so it can be killed -9 and started again."""

    def __init__(self, db_url: str, extra_args: tuple[str, ...] = ()):
        self.db_url, self.port, self.extra_args = db_url, free_port(), extra_args
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "sync.central.cli", "serve", "--db", self.db_url,
                                      "--port", str(self.port), *self.extra_args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with httpx.Client(transport=LOOPBACK, timeout=1) as probe:
                    ready = probe.get(self.url + "/readyz").status_code == 200
                if ready:
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
    """A real HTTP transport that injects faults around pushes, counting each one."""

    def __init__(self, rng: random.Random, *, lost=0.0, errors=0.0, timeouts=0.0, twice=0.0, late=0.0):
        self.inner = LOOPBACK
        self.rng, self.p = rng, {"lost": lost, "errors": errors, "timeouts": timeouts, "twice": twice,
                                 "late": late}
        self.sent: list[httpx.Request] = []
        self.counts: Counter = Counter()
        self.lock = threading.Lock()  # pushes travel on two threads at once

    def _send(self, request: httpx.Request) -> httpx.Response:
        resp = self.inner.handle_request(request)
        resp.read()
        return resp

    def _draw(self, what: str) -> bool:
        with self.lock:
            return self.rng.random() < self.p[what]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        push = request.url.path == "/v1/push"
        request.read()
        if push and self._draw("timeouts"):
            self.counts["timeout_before_send"] += 1
            raise httpx.ReadTimeout("injected timeout", request=request)
        if push and self._draw("errors"):
            self.counts["injected_503"] += 1
            return httpx.Response(503, json={"error": "unavailable", "detail": "injected"}, request=request)
        resp = self._send(request)
        if push and self._draw("twice"):
            self.counts["delivered_twice"] += 1
            resp = self._send(request)
        if push and self.sent and self._draw("late"):
            self.counts["old_batch_delivered_late"] += 1
            with self.lock:
                old = self.rng.choice(self.sent)
            self._send(old)
        if push:
            with self.lock:
                self.sent = (self.sent + [request])[-20:]
        if push and self._draw("lost"):
            self.counts["answer_lost_after_commit"] += 1
            raise httpx.ReadError("injected: answer lost", request=request)
        return resp


@dataclass
class Workstation:
    """One ward workstation: its data folder, its (shiftable) clock and, while open, its store."""

    name: str
    data_dir: Path
    offset: timedelta = timedelta(0)
    store: Store | None = None
    backups: list[Path] = field(default_factory=list)

    def clock(self) -> Clock:
        return Clock(now=lambda: utc_now() + self.offset)

    def open(self) -> Store:
        if self.store is None:
            self.store = Store.open(self.data_dir, "admin", DEMO_PASSWORD, clock=self.clock())
        return self.store

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None


class Simulation:
    def __init__(self, workdir: Path, db_url: str, seed: int | str = 7, n_workstations: int = 3,
                 central_args: tuple[str, ...] = ()):
        self.workdir, self.seed = workdir, seed
        self.rng = random.Random(seed)
        self.db = CentralDB(db_url)
        self.db.migrate()
        self.central = CentralProcess(db_url, central_args)
        self.stations = [Workstation(f"ws{i + 1}", workdir / f"ws{i + 1}") for i in range(n_workstations)]
        self.hostile = Workstation("hostile", workdir / "hostile")
        self.hostile_credential = ""
        self.forged_ids: set[str] = set()
        self.totals: Counter = Counter()
        self.round_no = 0

    # -- set-up ---------------------------------------------------------------------------------
    def __enter__(self) -> Simulation:
        self.central.start()
        for i, ws in enumerate([*self.stations, self.hostile]):
            store, _ = Store.create(ws.data_dir, site_id=SITE, unit_id=UNIT, admin_id="admin",
                                    admin_name=f"Chaos Admin {ws.name}", password=DEMO_PASSWORD,
                                    clock=ws.clock())
            token, _ = create_token(self.db, SITE, UNIT)
            enroll(store, self.central.url, token, transport=LOOPBACK)
            if i == 0:
                import_census(store, synthetic_census(12, UNIT))
            ws.store = store
        self.hostile_credential = self.hostile.store.meta()["central_credential"]
        for ws in self.stations:
            self._sync(ws)
        return self

    def __exit__(self, *exc) -> None:
        for ws in [*self.stations, self.hostile]:
            ws.close()
        self.central.kill()
        self.db.dispose()

    # -- what nurses do -------------------------------------------------------------------------
    def _work(self, ws: Workstation) -> None:
        store = ws.open()
        board = task_service.list_tasks(store, open_only=True)
        patients = [f"P{100001 + i}" for i in range(12)]
        for _ in range(self.rng.randint(0, 3)):
            workflow = self.rng.choice(WORKFLOWS)
            task_service.capture_task(store, workflow, self.rng.choice(patients), example_answers(workflow))
            self.totals["tasks_captured"] += 1
        for task in self.rng.sample(board, min(len(board), self.rng.randint(0, 3))):
            moves = [s for s in allowed_next(task["status"]) if s not in MOVES_LEFT_OUT]
            if moves:
                task_service.transition_task(store, task["task_id"], self.rng.choice(moves),
                                             reason="chaos round")
                self.totals["tasks_moved"] += 1
        store.record_many([("access.view", {"what": "board", "count": len(board)}, None, {})])

    # -- syncing --------------------------------------------------------------------------------
    def _sync(self, ws: Workstation, transport: httpx.BaseTransport | None = None, attempts: int = 12,
              batch_size: int | None = None) -> dict | None:
        retry = sync_service.Retry(attempts=attempts, base=0.02, cap=0.5)
        store = ws.open()
        try:
            return sync_service.sync(store, sync_service.Link.from_store(store), transport=transport or LOOPBACK,
                                     retry=retry, batch_size=batch_size or self.rng.choice([3, 7, 25, 100]))
        except sync_service.SyncError as err:
            self.totals["sync_gave_up"] += 1
            self.totals["sync_gave_up:" + type(err).__name__] += 1
            return None

    def _fault(self, fault: str) -> None:
        victims = self.rng.sample(self.stations, self.rng.randint(1, len(self.stations)))
        if fault == "none":
            for ws in victims:
                self._sync(ws)
        elif fault in ("lost_answers", "errors_and_timeouts", "twice_and_late"):
            faults = {"lost_answers": {"lost": 0.5},
                      "errors_and_timeouts": {"errors": 0.3, "timeouts": 0.3},
                      "twice_and_late": {"twice": 0.4, "late": 0.5}}[fault]
            for ws in victims:
                transport = FaultyTransport(self.rng, **faults)
                self._sync(ws, transport, batch_size=3)
                self.totals.update(transport.counts)
        elif fault == "central_killed":
            timer = threading.Timer(self.rng.uniform(0.0, 0.15), self.central.restart)
            timer.start()
            for ws in victims:
                self._sync(ws, attempts=60, batch_size=2)
            timer.join()
            self.totals["central_killed_and_restarted"] += 1
        elif fault == "client_killed":
            self._kill_client(victims[0])
        elif fault == "hostile_device":
            self._hostile_round()
        elif fault == "restored_from_backup":
            self._restore(victims[0])
        elif fault == "clock_jump":
            ws = victims[0]  # its clock reads the offset at every call: no need to reopen the store
            ws.offset += timedelta(hours=self.rng.choice([-30, -5, -1, 1, 5, 30]))
            self.totals["clock_jumped"] += 1
            self._work(ws)
            self._sync(ws)

    def _kill_client(self, ws: Workstation) -> None:
        """``tideover sync`` in a subprocess, SIGKILLed once the central has taken part of its push."""
        ws.close()
        env = {**os.environ, "TIDEOVER_PASSWORD": DEMO_PASSWORD}
        before = self._central_count()
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "--data-dir", str(ws.data_dir), "--user",
                                 "admin", "sync", "--batch-size", "1"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while proc.poll() is None and self._central_count() == before and time.monotonic() < deadline:
            time.sleep(0.005)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            self.totals["client_killed_mid_sync"] += 1
        proc.wait(30)

    def _restore(self, ws: Workstation) -> None:
        """Put back an older copy of the workstation's data folder (taken at an earlier round)."""
        if not ws.backups:
            return
        backup = self.rng.choice(ws.backups)
        ws.close()
        shutil.rmtree(ws.data_dir)
        shutil.copytree(backup, ws.data_dir)
        self.totals["restored_from_backup"] += 1
        self._work(ws)  # work goes on on the restored copy before it syncs
        self._sync(ws)

    def _confirm_recovery(self, ws: Workstation) -> None:
        """The admin's one confirmation after a restore: `tideover recover-chain`."""
        store = ws.open()
        report = chain_recovery.recover_chain(store, sync_service.Link.from_store(store), transport=LOOPBACK,
                                              retry=sync_service.Retry(attempts=12, base=0.02, cap=0.5),
                                              reason="chaos: restored from an older copy")
        self.totals["fork_recovered_by_admin"] += bool(report["recovered"])
        self.totals["forked_events_rerecorded"] += report["forked"] or 0

    def _backup(self, ws: Workstation) -> None:
        ws.close()
        target = self.workdir / "backups" / f"{ws.name}-{self.round_no}"
        shutil.copytree(ws.data_dir, target)
        ws.backups = (ws.backups + [target])[-3:]

    # -- the hostile device ---------------------------------------------------------------------
    def _post(self, body: bytes) -> int:
        with httpx.Client(transport=LOOPBACK, timeout=10) as client:
            resp = client.post(self.central.url + "/v1/push", content=body,
                               headers={"Authorization": f"Bearer {self.hostile_credential}",
                                        "Content-Type": "application/json"})
        return resp.status_code

    def _hostile_round(self) -> None:
        """An enrolled device that attacks with its own credential; the central must take none of it."""
        store = self.hostile.open()
        store.record_many([("access.view", {"what": "board", "count": 1}, None, {})])
        start = outbox.first_pending_seq(store)
        rows = outbox.batch_from(store, start, 5) if start else []
        attack = self.rng.choice(["wrong_key", "replayed_other_device", "forged_other_device"])
        before = self._central_count()
        if attack == "wrong_key" and rows:
            cp = sign_checkpoint(new_signing_key(), store.device_id, rows[-1].device_seq, rows[-1].hash,
                                 store.clock.now_iso())
            status = self._post(push_request_json(store.device_id, cp, [r.body for r in rows], 0))
        else:
            victim = self.rng.choice(self.stations).open()
            theirs = outbox.batch_from(victim, 1, 5)
            key = outbox.signing_key(store)
            if attack == "replayed_other_device":  # the victim's real events under the hostile's id
                device, bodies, last = store.device_id, [r.body for r in theirs], theirs[-1]
            else:  # a new event in the victim's name, chained onto the victim's head at the central
                device = victim.device_id
                forged = self._forge_after(victim)
                bodies, last = [orjson.dumps(forged)], outbox.Outgoing(forged["device_seq"], forged["event_id"],
                                                                        forged["hash"], b"")
                self.forged_ids.add(forged["event_id"])
            cp = sign_checkpoint(key, device, last.device_seq, last.hash, store.clock.now_iso())
            status = self._post(push_request_json(device, cp, bodies, 0))
        self.totals[f"hostile_{attack}"] += 1
        if status < 400 or self._central_count() != before:
            self.totals["hostile_attack_taken"] += 1
        self._sync(self.hostile)  # its honest events still sync

    def _forge_after(self, victim: Store) -> dict:
        """An event in ``victim``'s name, well formed and chained onto what the central holds of it."""
        head = self._central_head(victim.device_id)
        with self.db.read() as conn:
            row = conn.execute(sa.select(events.c.body).where(events.c.device_id == victim.device_id,
                                                              events.c.device_seq == head)).first()
        body = dict(orjson.loads(row[0]))
        body.update(event_id=new_id(), device_seq=head + 1, prev_hash=body["hash"], type="access.view",
                    payload={"what": "board", "count": 999})
        body["hash"] = recompute_hash(body)
        return body

    # -- the central's view ---------------------------------------------------------------------
    def _central_count(self) -> int:
        with self.db.read() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()

    def _central_head(self, device_id: str) -> int:
        with self.db.read() as conn:
            return conn.execute(sa.select(sa.func.coalesce(sa.func.max(events.c.device_seq), 0)).where(
                events.c.device_id == device_id)).scalar_one()

    def _central_held_back(self) -> tuple[dict[str, str | None], dict[str, str]]:
        """({event id: task id} held for review for its times, {event id: reason} of the rest held back)."""
        review, other = {}, {}
        with self.db.read() as conn:
            for event_id, reason, body in conn.execute(
                    sa.select(quarantine.c.event_id, quarantine.c.reason, quarantine.c.body)):
                if reason in TIMES_HELD_FOR_REVIEW:
                    review[event_id] = orjson.loads(body).get("task_id")
                else:
                    other[event_id] = reason
        return review, other

    def _central_ids(self) -> list[str]:
        with self.db.read() as conn:
            return [r[0] for r in conn.execute(sa.select(events.c.event_id))]

    # -- one round ------------------------------------------------------------------------------
    def round(self) -> dict:
        self.round_no += 1
        fault = self.rng.choice(FAULTS)
        for ws in self.stations:
            self._work(ws)
        if self.rng.random() < 0.15:
            self._backup(self.rng.choice(self.stations))
        self._fault(fault)
        self.totals["round:" + fault] += 1
        for _ in range(2):  # a clean sync everywhere, twice, so each sees what the others pushed
            for ws in [*self.stations, self.hostile]:
                summary = self._sync(ws)
                if summary and summary.get("fork"):
                    self._confirm_recovery(ws)
        return self.check(fault)

    def check(self, fault: str) -> dict:
        own: list[str] = []
        boards, pending = {}, {}
        for ws in [*self.stations, self.hostile]:
            store = ws.open()
            own.extend(eventlog.own_event_ids(store))
            pending[ws.name] = outbox.pending_count(store)
            if ws is not self.hostile:
                boards[ws.name] = {t["task_id"]: (t["status"], t["priority"], t["version"], t["patient_id"])
                                   for t in task_service.list_tasks(store)}
        held = self._central_ids()
        review, set_aside = self._central_held_back()
        # Events held for review (times beyond their device's own clock, e.g. a clock set back after
        # they were made) are kept at the central but shared only once a super-user releases them, so
        # the tasks they touch may differ between their maker's board and the others'.
        under_review = {task for task in review.values() if task}
        for board in boards.values():
            for task_id in under_review:
                board.pop(task_id, None)
        first_board = next(iter(boards.values()))
        problems = {
            "missing_at_central": len(set(own) - set(held) - set(review)),
            "unexpected_at_central": len(set(held) - set(own)),
            "doubled_at_central": len(held) - len(set(held)),
            "doubled_at_workstations": len(own) - len(set(own)),
            "forged_taken": len(self.forged_ids & (set(held) | set(review) | set(set_aside))),
            "honest_events_held_back": len(set(set_aside) & set(own)),
            "pending": sum(pending.values()),
            "boards_differ": sum(1 for b in boards.values() if b != first_board),
            "hostile_attack_taken": self.totals["hostile_attack_taken"],
        }
        self.totals["events_held_for_review"] = len(review)
        self.totals["tasks_under_review"] = len(under_review)
        verdict = {"round": self.round_no, "fault": fault, "events": len(held), "tasks": len(first_board),
                   "ok": not any(problems.values()), "problems": problems}
        if problems["honest_events_held_back"]:  # why: the reasons the central gave
            verdict["held_back_reasons"] = dict(Counter(set_aside[i] for i in set(set_aside) & set(own)))
        return verdict


def run(rounds: int, seed: int, db_url: str | None = None, workdir: Path | None = None,
        stop_at_first_failure: bool = True, progress: bool = False, world_rounds: int | None = None,
        start_world: int = 1) -> dict:
    """``rounds`` rounds in wards of ``world_rounds`` rounds each (all in one ward when None), from ward
    ``start_world`` on (a replay). Ward 1 of a run is seeded ``seed`` itself, ward k ``seed:k``."""
    per_world = world_rounds or rounds
    failures, last, totals, done, world = [], {}, Counter(), 0, start_world
    started = time.monotonic()
    while done < rounds and not (failures and stop_at_first_failure):
        n = min(per_world, rounds - done)
        world_seed = seed if world == 1 else f"{seed}:{world}"
        with tempfile.TemporaryDirectory(prefix="tideover-chaos-") as tmp:
            base = Path(workdir or tmp) / f"ward-{world}"
            base.mkdir(parents=True, exist_ok=True)
            url = db_url if db_url and world == start_world else None
            if db_url and url is None:  # a later ward of a PostgreSQL run: a fresh database beside it
                url = _fresh_database(db_url, world)
            with Simulation(base, url or str(base / "central.db"), world_seed) as sim:
                for _ in range(n):
                    last = {"ward": world, **sim.round()}
                    done += 1
                    if progress:
                        print(json.dumps({"round": done, "ward": world, "ward_round": last["round"],
                                          "fault": last["fault"], "ok": last["ok"], "events": last["events"],
                                          "s": round(time.monotonic() - started, 1)}), file=sys.stderr, flush=True)
                    if not last["ok"]:
                        failures.append(last)
                        if stop_at_first_failure:
                            break
                totals.update(sim.totals)
        world += 1
    first = failures[0] if failures else None
    replay = None
    if first:
        replay = f"python benchmarks/chaos.py --seed {seed} --rounds {first['round']}"
        if world_rounds:
            replay += f" --world-rounds {world_rounds} --start-world {first['ward']}"
    return {"seed": seed, "rounds": done, "world_rounds": per_world, "wards": world - start_world,
            "failed_rounds": len(failures), "first_failure": first, "replay": replay,
            "events_at_central": last.get("events"), "tasks": last.get("tasks"),
            "seconds": round(time.monotonic() - started, 1), "faults": dict(totals)}


def _fresh_database(db_url: str, world: int) -> str:
    """A new empty PostgreSQL database named after ``db_url``'s, for ward ``world``."""
    base, name = db_url.rsplit("/", 1)
    fresh = f"{name}_ward{world}"
    engine = sa.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{fresh}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{fresh}"')
    engine.dispose()
    return f"{base}/{fresh}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--world-rounds", type=int, help="rounds per ward before a new ward starts (default: one ward)")
    ap.add_argument("--start-world", type=int, default=1, help="the ward to start from (to replay a failure)")
    ap.add_argument("--db", help="central database URL (default: a SQLite file in a temp folder)")
    ap.add_argument("--keep-going", action="store_true", help="run every round even after a failure")
    ap.add_argument("--progress", action="store_true", help="one JSON line per round on stderr")
    args = ap.parse_args(argv)
    out = run(args.rounds, args.seed, args.db, stop_at_first_failure=not args.keep_going,
              progress=args.progress, world_rounds=args.world_rounds, start_world=args.start_world)
    print(json.dumps(out, indent=2))
    return 1 if out["failed_rounds"] else 0


if __name__ == "__main__":
    sys.exit(main())
