"""IT withholds a stored event from pulls, with a reason, as an audited record; nothing is deleted.
`tideover-central verify` reports stored events workstations could not take until they are
withheld. Real central over HTTP and its real command, SQLite and PostgreSQL."""

from __future__ import annotations

import json

import httpx
import pytest
import sqlalchemy as sa
from central_helpers import FakeDevice, enroll_store, held_at_central_untakeable, held_event_ids
from test_set_aside import task_ids

from app.services import sync as sync_service
from sync.central.cli import main as central_cli
from sync.central.queries import verify


def run(capsys, db, *args: str) -> tuple[int, str, str]:
    code = central_cli(["--db", db.url, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_verify_reports_what_workstations_cannot_take_until_it_is_withheld(central, make_store, capsys):
    url, db = central
    dev, before, bad, after = held_at_central_untakeable(url, db)

    code, out, _ = run(capsys, db, "verify", "--json")
    report = json.loads(out)
    assert code == 4
    assert [(p["problem"], p["device_seq"]) for p in report["problems"]] == [("untakeable", bad["device_seq"])]
    assert bad["event_id"] in report["problems"][0]["detail"] and "causation_id" in report["problems"][0]["detail"]

    code, out, _ = run(capsys, db, "withhold", bad["event_id"], "--reason", "stored by the old central; INC-4411")
    assert code == 0 and "Withheld" in out and bad["event_id"] in out
    code, out, _ = run(capsys, db, "withheld", "list", "--json")
    [record] = json.loads(out)
    assert (record["event_id"], record["reason"], record["device_seq"]) == (
        bad["event_id"], "stored by the old central; INC-4411", bad["device_seq"])
    assert record["withheld_by"] and record["withheld_at"]
    assert run(capsys, db, "withhold", bad["event_id"], "--reason", "again")[0] == 0  # changes nothing
    assert json.loads(run(capsys, db, "withheld", "list", "--json")[1])[0]["reason"] == record["reason"]

    code, out, _ = run(capsys, db, "verify", "--json")
    report = json.loads(out)
    assert code == 0 and report["problems"] == []
    assert [(u["event_id"], u["withheld"]) for u in report["untakeable"]] == [(bad["event_id"], True)]
    code, out, _ = run(capsys, db, "verify")
    assert code == 0 and f"withheld {bad['event_id']}" in out

    # A workstation never gets it; the events around it come through and nothing is set aside.
    fresh = make_store("fresh")
    enroll_store(fresh, url, db)
    summary = sync_service.sync(fresh, sync_service.Link.from_store(fresh))
    assert {before["task_id"], after["task_id"]} <= task_ids(fresh)
    assert summary["set_aside"] == 0 and not [h for h in summary["held_back"] if h["state"] == "set_aside"]

    # Spread over worker processes (as on a large central), verify finds the same.
    one, two = verify(db, workers=1), verify(db, workers=2)
    assert one["devices"] >= 2 and {k: one[k] for k in ("devices", "events", "checkpoints", "problems")} == {
        k: two[k] for k in ("devices", "events", "checkpoints", "problems")}
    assert sorted(one["untakeable"], key=json.dumps) == sorted(two["untakeable"], key=json.dumps)

    # Nothing was deleted, and the record of the withholding cannot be changed.
    assert bad["event_id"] in held_event_ids(db)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.write() as conn:
        conn.execute(sa.text("DELETE FROM withheld"))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.write() as conn:
        conn.execute(sa.text("UPDATE withheld SET reason = 'nothing happened'"))


def test_withholding_an_unknown_event_is_a_clear_error(central_db, capsys):
    code, _, err = run(capsys, central_db, "withhold", "01a2356f-03c2-757e-92ea-4f58381afa55", "--reason", "typo")
    assert code == 1 and "holds no event" in err and "Traceback" not in err
    assert run(capsys, central_db, "withhold", "01a2356f-03c2-757e-92ea-4f58381afa55", "--reason", " ")[0] == 1


def test_the_central_keeps_reports_only_for_events_of_the_reporters_unit(central, make_store):
    url, db = central
    other_unit = FakeDevice(unit="ward-9")
    with httpx.Client(base_url=url) as client:
        other_unit.enroll(client, db)
        theirs = other_unit.task()
        assert other_unit.push(client, [theirs]).status_code == 200
        a = make_store("a")
        enroll_store(a, url, db)
        auth = {"Authorization": f"Bearer {a.meta()['central_credential']}"}
        resp = client.post("/v1/set-aside", json={"reports": [
            {"event_id": theirs["event_id"], "reason": "not_canonical", "detail": "x"},
            {"event_id": "no-such-event", "reason": "not_canonical"}]}, headers=auth)
        assert resp.status_code == 200 and resp.json() == {"recorded": 0}
        assert client.post("/v1/set-aside", json={"reports": []}, headers=auth).status_code == 422
        assert client.post("/v1/set-aside", json={"reports": [{"event_id": 1, "reason": "x"}]},
                           headers=auth).status_code == 422
        assert client.post("/v1/set-aside", json={"reports": [{"event_id": "e", "reason": "x"}]}).status_code == 401
