"""The background sync's rules, without Qt: LIVE or DOWNTIME (one rule), what a failure or a sync
does to the link state, and the one backoff both the timer and the HTTP retries follow."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from app.services import sync as sync_service
from app.services.backoff import backoff_ceiling
from app.services.central_link import LinkState, central_view, failed, next_delay_ms, synced

NOW = datetime(2026, 11, 25, 9, 40, tzinfo=UTC)
SINCE = datetime(2026, 11, 25, 9, 34, tzinfo=UTC)
NURSE = {"name": "Nina", "role": "nurse", "mode": "downtime"}
ENROLLED = {"central_url": "https://central.example", "last_sync": "2026-11-25T09:39:00.000Z"}


def test_the_link_decides_live_or_downtime_once_it_has_tried():
    down = LinkState(enrolled=True, reachable=False, unreachable_since=SINCE, problem="ConnectError")
    view = central_view(NURSE, ENROLLED, down, NOW)
    assert (view.mode, view.text) == ("downtime", f"Central: unreachable since {SINCE.astimezone():%H:%M}")
    assert "ConnectError" in view.tooltip
    refused = LinkState(enrolled=True, reachable=False, unreachable_since=SINCE, refused=True,
                        problem="The central refused the request (401 unauthorized)")
    view = central_view(NURSE, ENROLLED, refused, NOW)
    assert view.mode == "downtime" and view.text.startswith("Central: refused this workstation")
    assert "401" in view.tooltip
    forked = LinkState(enrolled=True, reachable=True, last_ok=SINCE, fork={"to_take_back": 17},
                       problem="This workstation was restored from an older copy: an admin runs recover-chain")
    view = central_view(NURSE, ENROLLED, forked, NOW)
    assert view.mode == "live" and "recover the chain" in view.text and "recover-chain" in view.tooltip
    low = LinkState(enrolled=True, reachable=True, last_ok=SINCE, pull_stopped=True,
                    problem="pushed 3 events (the central holds them); pulled 0: stopped with 90 MB free")
    view = central_view(NURSE, ENROLLED, low, NOW)
    assert view.mode == "live" and view.text.endswith("⚠ disk low, pull waiting")
    assert view.tooltip.startswith("pushed 3 events")
    up = LinkState(enrolled=True, reachable=True, last_ok=NOW - timedelta(seconds=40))
    assert central_view(NURSE, ENROLLED, up, NOW).text == "Central: reachable · last sync 40 s ago"


def test_before_its_first_try_the_configured_mode_stands_and_the_last_sync_speaks():
    connecting = central_view(NURSE, ENROLLED, LinkState(enrolled=True), NOW)
    assert (connecting.mode, connecting.text) == ("downtime", "Central: connecting…")
    assert central_view(NURSE, ENROLLED, None, NOW).text == "Central: reachable"  # synced a minute ago
    stale = {**ENROLLED, "last_sync": "2026-11-25T09:30:00.000Z"}
    assert central_view(NURSE, stale, LinkState(enrolled=False), NOW).text == "Central: NOT reachable"
    assert central_view(NURSE, {"central_url": "x"}, None, NOW).text == "Central: NOT reachable (never synced)"
    assert central_view(NURSE, {}, None, NOW).text == "Central: not enrolled"
    live_site = central_view({**NURSE, "mode": "live"}, ENROLLED, None, NOW)
    assert live_site.mode == "live" and not live_site.from_link


def test_practice_never_syncs_whatever_the_link_says():
    view = central_view({**NURSE, "mode": "training"}, ENROLLED, LinkState(enrolled=True, reachable=True,
                                                                            last_ok=NOW), NOW)
    assert (view.mode, view.text) == ("training", "Practice only: nothing leaves this store")


def test_a_failure_marks_the_link_down_from_the_first_failure_and_a_sync_brings_it_back():
    state = LinkState(enrolled=True, reachable=True, last_ok=SINCE)
    state = failed(state, sync_service.CentralUnreachable("no answer"), SINCE)
    state = failed(state, sync_service.CentralUnreachable("no answer"), NOW)
    assert (state.reachable, state.unreachable_since, state.failures, state.refused) == (False, SINCE, 2, False)
    synced(state, {"held_back": [{"event_id": "e1"}]}, NOW)
    assert (state.reachable, state.unreachable_since, state.failures, state.problem) == (True, None, 0, "")
    assert state.last_ok == NOW and state.held_back == [{"event_id": "e1"}]
    refused = failed(state, sync_service.SyncRefused("401"), NOW)
    assert refused.refused and refused.problem == "401"
    stopped = failed(state, sync_service.NotEnrolled("not enrolled"), NOW)
    assert not stopped.enrolled and stopped.problem == "not enrolled"


def test_the_timer_and_the_http_retries_back_off_by_one_rule():
    assert [next_delay_ms(n, 30_000) for n in range(5)] == [30_000, 60_000, 120_000, 120_000, 120_000]
    jittered = [next_delay_ms(3, 30_000, rng=random.Random(seed)) for seed in range(50)]
    assert all(0.85 * 120_000 <= d <= 120_000 for d in jittered) and len(set(jittered)) > 1
    retry = sync_service.Retry(base=0.25, cap=8.0, rng=random.Random(7))
    for attempt in range(8):
        ceiling = backoff_ceiling(attempt, 0.25, 8.0)
        assert all(0 <= retry.delay(attempt) <= ceiling for _ in range(20))
    assert [backoff_ceiling(n, 0.25, 8.0) for n in range(7)] == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
