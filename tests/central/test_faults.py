"""Fault injection: real client, real central (a subprocess on loopback), on SQLite and PostgreSQL.

Runs one round of each fault of benchmarks/chaos.py (the long-run script uses the same code) and
checks after every round that the central holds exactly the events the workstation captured.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "tideover_chaos", Path(__file__).resolve().parents[2] / "benchmarks" / "chaos.py")
chaos = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(chaos)

EXPECTED_FAULTS = {
    "client_killed": ["client_killed_mid_sync"],
    "lost_responses": ["response_lost_after_commit"],
    "errors_and_timeouts": ["injected_503", "timeout_before_send"],
    "twice_and_out_of_order": ["delivered_twice", "old_batch_delivered_late"],
    "central_restarted": ["central_killed_and_restarted"],
    "restored_from_backup": ["restored_and_recovered", "restored_from_backup_forked"],
}


@pytest.mark.slow
def test_every_fault_loses_nothing_and_doubles_nothing(tmp_path, db_url):
    with chaos.Chaos(tmp_path, db_url, seed=11, events_per_round=150) as run:
        for scenario in chaos.SCENARIOS:
            result = run.round(scenario)
            assert result["captured"] > 150 * (chaos.SCENARIOS.index(scenario) + 1), scenario
            assert (result["missing"], result["unexpected"], result["twice"], result["held_back"],
                    result["pending"]) == (0, 0, 0, 0, 0), (scenario, result)
            assert result["held"] == result["captured"], scenario
            for fault in EXPECTED_FAULTS[scenario]:
                assert run.totals[fault] > 0, (scenario, fault, dict(run.totals))
