"""Stores made by the previous release open with today's code: every store migration runs once and is
recorded, the audit chain still verifies, event bodies are compressed and the work is still there
(fixtures: tests/fixtures/)."""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from clihelp import tideover
from store_rows import rows

from app.services import printing
from app.services.demo import DEMO_PASSWORD
from app.store.migrations import MIGRATIONS
from app.store.store import Store

FIXTURES = Path(__file__).parent / "fixtures"
# (fixture folder, user, password, the tasks it holds, the store migrations it was made with)
RELEASES = {
    "release_0d86e13": ("release_0d86e13/workstation", "admin", DEMO_PASSWORD, 2, [1, 2]),
    "store_before_grants": ("store_before_grants", "ada", "legacy workstation passphrase", 1, [1, 2]),
}


def _migrations(store: Store) -> list[tuple[int, str]]:
    return [(r["number"], r["name"]) for r in rows(store, "SELECT number, name FROM migrations ORDER BY number")]


@pytest.mark.parametrize("release", sorted(RELEASES))
def test_a_store_of_the_previous_release_migrates_once_and_verifies(release, tmp_path):
    folder, user, password, n_tasks, made_with = RELEASES[release]
    data = tmp_path / "store"
    shutil.copytree(FIXTURES / folder, data)
    with pytest.raises(sqlite3.DatabaseError):  # encrypted: nothing readable without the key
        sqlite3.connect(data / "tideover.db").execute("SELECT count(*) FROM sqlite_master").fetchone()

    store = Store.open(data, user, password)
    assert _migrations(store) == [(number, name) for number, name, _step in MIGRATIONS]
    # The steps the old release had ran when it made the store; the others ran now, at this open.
    created = store.meta()["created_at"]
    assert [r["number"] for r in rows(store, "SELECT number FROM migrations WHERE applied_at <= ? ORDER BY number",
                                             [created])] == made_with
    assert len(MIGRATIONS) > len(made_with)
    tasks = rows(store, "SELECT task_id, workflow FROM tasks")
    assert len(tasks) == n_tasks
    assert store.verify() > 0
    # Migration 7 compressed every body the old release wrote; each still reads as the bytes it was hashed
    # over (verify above), and the old answers, which carry their labels, still show with labels.
    assert rows(store, "SELECT count(*) AS n FROM events WHERE body_codec IS NULL")[0]["n"] == 0
    for task in tasks:
        shown = printing.task_printout(store, task["task_id"])["answer_lines"]
        assert shown and all(label for _depth, label, _value in shown)
    store.close()

    again = Store.open(data, user, password)  # nothing left to apply: each step ran once
    assert _migrations(again) == [(number, name) for number, name, _step in MIGRATIONS]
    assert rows(again, "SELECT task_id, workflow FROM tasks") == tasks
    again.close()
    verify = tideover(data, "audit", "verify", user=user, password=password)
    assert re.search(r"audit verify: \d+ events", verify.stdout) and "chain intact" in verify.stdout

