"""`tideover demo` embeds the real central on loopback, enrolls the demo store and syncs it."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

import httpx

from app.services.demo import seed_demo
from app.services.demo_central import EmbeddedCentral, enroll_and_sync, summary_line
from sync.central.queries import stats


def test_demo_headless_prints_the_sync_summary_and_exits_0(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    out = subprocess.run([sys.executable, "-m", "app.cli", "demo", "--headless"], capture_output=True,
                         text=True, timeout=120, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    found = re.search(r"^Synced (\d+) events to the embedded central at http://127\.0\.0\.1:(\d+): (\d+) accepted$",
                      out.stdout, re.MULTILINE)
    assert found, out.stdout
    assert int(found.group(1)) == int(found.group(3)) > 0
    events = int(re.search(r"audit verify: (\d+) events", out.stdout).group(1))
    assert int(found.group(1)) == events  # every event of the demo store went to the central
    with socket.socket() as probe:  # and the central stopped with the demo
        assert probe.connect_ex(("127.0.0.1", int(found.group(2)))) != 0


def test_the_embedded_central_holds_the_demo_store_events_and_stops_cleanly(tmp_path):
    central = EmbeddedCentral(tmp_path / "demo").start()
    store, _made = seed_demo(tmp_path / "demo" / "store")
    try:
        summary = enroll_and_sync(store, central)
        held = stats(central.db)
        assert held["events"] == summary["results"]["accepted"] == store.head.device_seq
        assert [d["device_id"] for d in held["per_device"]] == [store.device_id]
        assert summary["pending"] == 0
        assert summary_line(summary) == (f"Synced {summary['pushed']} events to the embedded central at "
                                         f"{central.url}: {summary['pushed']} accepted")
        assert httpx.get(f"{central.url}/healthz").json()["status"] == "ok"
    finally:
        store.close("exit")
        central.stop()
    assert (tmp_path / "demo" / "central.db").is_file()
    try:
        httpx.get(f"{central.url}/healthz", timeout=2)
        raise AssertionError("the central still answers after stop()")
    except httpx.TransportError:
        pass
    central.stop()  # a second stop is harmless


def test_summary_line_names_every_answer_and_what_is_left():
    summary = {"central": "http://127.0.0.1:1", "pushed": 5, "pending": 2,
               "results": {"accepted": 3, "duplicate": 1, "conflict": 0, "rejected": 0, "quarantined": 1}}
    assert summary_line(summary) == ("Synced 5 events to the embedded central at http://127.0.0.1:1: "
                                     "3 accepted, 1 duplicate, 1 quarantined; 2 still waiting")
