"""A capture that returned survives kill -9 the next instant; the chain still verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from store_rows import rows

from app.services.demo import DEMO_PASSWORD, seed_demo
from app.store import eventlog, integrity
from app.store.store import Store

LOOP = r"""
import sys
from app.services import tasks as ts
from app.services.demo import DEMO_PASSWORD, example_answers
from app.store.store import Store
import forms
store = Store.open(sys.argv[1], "nina", DEMO_PASSWORD)
print("ready", flush=True)
i = 0
while True:
    w = forms.WORKFLOWS[i % 5]
    got = ts.capture_task(store, w, "P100001", example_answers(w))
    print(got.task_id, flush=True)
    i += 1
"""


def test_kill_9_during_a_capture_loop_loses_no_returned_capture(tmp_path):
    store, _ = seed_demo(tmp_path / "s")
    store.close()
    for round_ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", LOOP, str(tmp_path / "s")], stdout=subprocess.PIPE,
                                text=True, env={**os.environ, "TMPDIR": str(tmp_path)})
        assert proc.stdout.readline().strip() == "ready"
        returned = []
        deadline = time.monotonic() + 60
        while len(returned) < 40 + 25 * round_ and time.monotonic() < deadline:
            returned.append(proc.stdout.readline().strip())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        returned += [line.strip() for line in proc.stdout.read().splitlines() if line.strip()]
        store = Store.open(tmp_path / "s", "admin", DEMO_PASSWORD)
        held = {r["task_id"] for r in rows(store, "SELECT task_id FROM tasks")}
        assert set(returned) <= held, f"lost: {set(returned) - held}"
        assert store.verify() == eventlog.event_count(store)
        before, after, _ = integrity.rebuild_projections(store)
        assert before == after
        store.close()
