"""One order for a task's events (sync.taskorder): cause first, the clock only between concurrent edits.

Devices with wildly wrong clocks edit one task, seeing each other's edits only through a
simulated central; the order never puts an edit before one its maker had seen, and a real
encrypted store folds the same events to the same task whatever order they arrive in.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_rows import rows

from app.store import eventlog
from app.store.projections import TASK_COLUMNS, fold_task
from app.store.store import Store
from forms.vocabulary import FINISHED_STATUSES
from sync.canonical import GENESIS_HASH
from sync.clock import format_hlc, iso
from sync.events import new_id, seal
from sync.taskorder import fold_key, in_fold_order, rival_key
from sync.taskstate import allowed_next

START_MS = 1_780_000_000_000
HOUR_MS = 3600 * 1000


class SimDevice:
    """A workstation in the simulation: its own chain, its own (skewed) clock, its view of the task."""

    def __init__(self, index: int, skew_ms: int, task_id: str):
        self.device_id = f"sim-{index}-{new_id()[-12:]}"
        self.skew_ms, self.task_id = skew_ms, task_id
        self.seq, self.head, self.ticks = 0, GENESIS_HASH, 0
        self.view: dict[str, dict] = {}
        self.unpushed: list[dict] = []

    def row(self) -> dict | None:
        row = None
        for body in in_fold_order(self.view.values()):
            row = fold_task(row, body)
        return row

    def make(self, type_: str, payload: dict, base: int) -> dict:
        self.seq, self.ticks = self.seq + 1, self.ticks + 1
        ms = START_MS + self.skew_ms + self.ticks * 1000
        when = iso(datetime.fromtimestamp(ms / 1000, UTC))
        body = seal({"event_id": new_id(), "type": type_, "site_id": "st-marys", "unit_id": "ward-7",
                     "device_id": self.device_id, "device_seq": self.seq, "workflow": "referral",
                     "task_id": self.task_id, "base_version": base,
                     "actor": {"user_id": "nina", "display_name": "Nina Okafor (RN)", "role": "nurse"},
                     "occurred_at": when, "recorded_at": when, "hlc": format_hlc(ms, 0),
                     "source": f"workstation:{self.device_id}", "correlation_id": self.task_id,
                     "mode": "synthetic", "payload": payload}, self.head).body()
        self.head = body["hash"]
        self.view[body["event_id"]] = body
        self.unpushed.append(body)
        return body


def simulate(seed: int, n_devices: int, steps: int) -> tuple[list[dict], dict[str, set[str]]]:
    """Edits of one task on skewed devices that see each other only by push and pull; returns the
    events and, per event, the ids its maker had seen when making it."""
    rng = random.Random(seed)
    task_id = new_id()
    devices = [SimDevice(i, rng.choice([0, 1, -1]) * rng.randint(0, 60) * HOUR_MS, task_id)
               for i in range(n_devices)]
    central: list[dict] = []
    seen_by: dict[str, set[str]] = {}
    first = devices[0].make("task.created", {"patient_id": "P100001", "answers": {}}, 0)
    seen_by[first["event_id"]] = set()
    for _ in range(steps):
        d = rng.choice(devices)
        action = rng.random()
        if action < 0.25:
            central.extend(d.unpushed)
            d.unpushed = []
        elif action < 0.5:
            d.view.update((b["event_id"], b) for b in central)
        else:
            row = d.row()
            if row is None:
                continue
            seen = set(d.view)
            nxt = [s for s in allowed_next(row["status"]) if s != "entered-in-error"]
            if nxt and row["status"] not in FINISHED_STATUSES and rng.random() < 0.7:
                body = d.make("task.transitioned", {"from_status": row["status"], "to_status": rng.choice(nxt)},
                              row["version"])
            else:
                body = d.make("task.note_added", {"text": f"note {d.ticks}"}, row["version"])
            seen_by[body["event_id"]] = seen
    made = [b for d in devices for b in d.view.values() if b["device_id"] == d.device_id]
    return made, seen_by


def fold_all(bodies) -> dict:
    row = None
    for body in in_fold_order(bodies):
        row = fold_task(row, body)
    return row


@given(seed=st.integers(0, 2 ** 32), n_devices=st.integers(2, 4), steps=st.integers(1, 40))
@settings(max_examples=200, deadline=None)
def test_no_edit_folds_before_one_its_maker_had_seen_whatever_the_clocks(seed, n_devices, steps):
    made, seen_by = simulate(seed, n_devices, steps)
    position = {b["event_id"]: i for i, b in enumerate(in_fold_order(made))}
    for body in made:
        for cause in seen_by[body["event_id"]]:
            assert position[cause] < position[body["event_id"]]


def test_a_30_hours_fast_accepted_folds_before_the_in_progress_made_after_it():
    fast = SimDevice(0, 30 * HOUR_MS, new_id())
    right = SimDevice(1, 0, fast.task_id)
    created = right.make("task.created", {"patient_id": "P100001", "answers": {}}, 0)
    fast.view[created["event_id"]] = created
    accepted = fast.make("task.transitioned", {"from_status": "requested", "to_status": "accepted"}, 1)
    right.view[accepted["event_id"]] = accepted
    started = right.make("task.transitioned", {"from_status": "accepted", "to_status": "in-progress"}, 2)
    assert accepted["hlc"] > started["hlc"]  # the fast clock says accepted came later
    assert [b["event_id"] for b in in_fold_order([started, accepted, created])] == \
        [created["event_id"], accepted["event_id"], started["event_id"]]
    row = fold_all([started, accepted, created])
    assert row["status"] == "in-progress" and row["needs_review"] == 0
    assert "completed" in allowed_next(row["status"])


def test_only_edits_from_the_same_version_are_ordered_by_the_clock():
    a, b = SimDevice(0, 5 * HOUR_MS, new_id()), SimDevice(1, 0, "")
    b.task_id = a.task_id
    created = a.make("task.created", {"patient_id": "P100001", "answers": {}}, 0)
    b.view[created["event_id"]] = created
    late_clock = a.make("task.transitioned", {"from_status": "requested", "to_status": "accepted"}, 1)
    early_clock = b.make("task.transitioned", {"from_status": "requested", "to_status": "cancelled"}, 1)
    assert rival_key(late_clock) == rival_key(early_clock) == (a.task_id, 1)
    assert in_fold_order([late_clock, early_clock])[0] is early_clock  # a tie: the clock decides
    row = fold_all([late_clock, created, early_clock])
    assert row["needs_review"] == 1  # concurrent edits are flagged, both kept
    assert rival_key(created) is None


def test_a_creation_sorts_first_among_events_naming_version_0_and_missing_versions_last():
    dev = SimDevice(0, 0, new_id())
    note = dev.make("task.note_added", {"text": "early"}, 0)
    created = dev.make("task.created", {"patient_id": "P100001", "answers": {}}, 0)
    unversioned = {**dev.make("task.note_added", {"text": "x"}, 1), "base_version": None}
    assert in_fold_order([unversioned, note, created]) == [created, note, unversioned]
    assert fold_key(created) < fold_key(note) < fold_key(unversioned)


@pytest.fixture(scope="module")
def arrival_store(tmp_path_factory):
    store, _ = Store.create(tmp_path_factory.mktemp("order") / "ws", site_id="st-marys", unit_id="ward-7",
                            admin_id="admin", admin_name="Ada Admin (IT)",
                            password="correct horse battery staple ward seven")
    yield store
    store.close()


def _task_row(store: Store, task_id: str) -> dict | None:
    found = rows(store, f"SELECT {', '.join(TASK_COLUMNS)} FROM tasks WHERE task_id = ?", [task_id])
    return found[0] if found else None


@given(seed=st.integers(0, 2 ** 32), n_devices=st.integers(2, 3), steps=st.integers(1, 25),
       arrival=st.randoms(use_true_random=False), chunks=st.integers(1, 4))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_arrival_order_folds_to_the_same_task_on_a_real_store(arrival_store, seed, n_devices, steps,
                                                                   arrival, chunks):
    made, _ = simulate(seed, n_devices, steps)
    shuffled = list(made)
    arrival.shuffle(shuffled)
    size = max(1, len(shuffled) // chunks)
    for i in range(0, len(shuffled), size):  # pulled page by page, each page its own transaction
        eventlog.ingest_remote(arrival_store, shuffled[i:i + size])
    got = _task_row(arrival_store, made[0]["task_id"])
    assert got == {c: v for c, v in fold_all(made).items() if c in TASK_COLUMNS}
