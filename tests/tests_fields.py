"""Event fields for tests that build events by hand."""

from __future__ import annotations

from sync.events import new_id


def task_fields(**over) -> dict:
    base = {
        "event_id": new_id(), "type": "task.created", "workflow": "ed_triage", "task_id": "task-1",
        "base_version": 0, "site_id": "site-a", "unit_id": "ward-7", "device_id": "dev-1",
        "device_seq": 1, "actor": {"user_id": "nina", "display_name": "Nina", "role": "nurse"},
        "occurred_at": "2026-11-25T03:00:00.000Z", "recorded_at": "2026-11-25T03:00:00.000Z",
        "hlc": "1795000000001.00000", "source": "workstation:dev-1",
        "correlation_id": "task-1", "mode": "downtime",
        "payload": {"patient_id": "P100001", "answers": {}},
    }
    base.update(over)
    return base
