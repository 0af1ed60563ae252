"""Enrollment trust at the central: proof of possession of the device key, revoking a device, one
answer for every refused token, and a rate limit on /v1/enroll (finding 8 and part of 14 of issue 8)."""

from __future__ import annotations

import json

import httpx
import pytest
import sqlalchemy as sa
from central_helpers import FakeDevice, counts
from fastapi.testclient import TestClient

from sync.central.app import create_app
from sync.central.cli import main as central_cli
from sync.central.enroll import create_token
from sync.checkpoint import new_signing_key


@pytest.fixture
def victim(api, device):
    client, _db = api
    assert device.push(client, [device.init_event(), device.task()]).status_code == 200
    return device


def test_a_new_token_and_the_victims_public_key_do_not_take_over_its_device_id(api, victim):
    client, db = api
    token, _ = create_token(db, victim.site, victim.unit)
    before = counts(db)
    attacker_key = new_signing_key()
    # The attacker knows the victim's device id and public key, not its private key.
    forged = client.post("/v1/enroll", json=victim.enroll_body(token, key=attacker_key))
    assert forged.status_code == 403 and forged.json()["error"] == "bad_signature"
    unsigned = {k: v for k, v in victim.enroll_body(token).items() if k != "proof"}
    assert client.post("/v1/enroll", json=unsigned).status_code == 422
    assert counts(db) == before  # the token is not spent, no credential changed
    # The victim goes on pushing and pulling with its own credential.
    assert victim.push(client, [victim.task()]).status_code == 200
    assert client.get("/v1/pull", headers=victim.auth).status_code == 200


def test_a_device_re_enrolls_with_a_new_token_by_signing_with_its_key(api, victim):
    client, db = api
    old_auth = victim.auth
    victim.enroll(client, db)
    assert client.get("/v1/pull", headers=old_auth).status_code == 401
    assert victim.push(client, [victim.task()]).status_code == 200


def test_a_captured_enrollment_cannot_be_replayed_with_another_token(api, victim):
    client, db = api
    captured = victim.enroll_body(create_token(db, victim.site, victim.unit)[0])
    assert client.post("/v1/enroll", json=captured).status_code == 200
    fresh, _ = create_token(db, victim.site, victim.unit)
    before = counts(db)
    replay = client.post("/v1/enroll", json={**captured, "token": fresh})
    assert replay.status_code == 403 and replay.json()["error"] == "bad_signature"
    assert counts(db) == before


def test_nobody_enrolls_a_public_key_they_do_not_hold(api):
    client, db = api
    token, _ = create_token(db, "st-marys", "ward-7")
    someone_else = FakeDevice()  # never enrolled; the caller has only its public key
    before = counts(db)
    resp = client.post("/v1/enroll", json=someone_else.enroll_body(token, key=new_signing_key()))
    assert resp.status_code == 403 and resp.json()["error"] == "bad_signature"
    assert counts(db) == before


def test_a_device_id_enrolled_with_another_key_is_refused_even_with_a_signature(api, victim):
    client, db = api
    token, _ = create_token(db, victim.site, victim.unit)
    impostor = FakeDevice()
    impostor.device_id = victim.device_id  # its own key, signed properly, but the id is taken
    before = counts(db)
    resp = client.post("/v1/enroll", json=impostor.enroll_body(token))
    assert resp.status_code == 409 and resp.json()["error"] == "already_enrolled"
    assert counts(db) == before
    assert victim.push(client, [victim.task()]).status_code == 200


def test_every_refused_token_gets_one_identical_answer_that_names_no_site_or_unit(api):
    client, db = api
    dev = FakeDevice()
    used, _ = create_token(db, dev.site, dev.unit)
    other = FakeDevice()
    assert client.post("/v1/enroll", json=other.enroll_body(used)).status_code == 200
    expired, _ = create_token(db, dev.site, dev.unit, ttl_hours=-1)
    wrong_unit, _ = create_token(db, "secret-site", "secret-unit")
    wrong_site, _ = create_token(db, "secret-site", dev.unit)
    other_device, _ = create_token(db, dev.site, dev.unit, device_id="someone-else")
    before = counts(db)
    answers = []
    for token in ("tet_never_made_by_it_1234", used, expired, wrong_unit, wrong_site, other_device):
        resp = client.post("/v1/enroll", json=dev.enroll_body(token))
        answers.append((resp.status_code, resp.content))
    assert len(set(answers)) == 1, answers
    status, body = answers[0]
    assert status == 401 and json.loads(body)["error"] == "token_invalid"
    assert b"secret" not in body and b"ward-7" not in body and b"st-marys" not in body
    assert counts(db) == before


def test_it_lists_and_revokes_a_device_and_its_credential_dies_at_once(api, victim, capsys):
    client, db = api
    bystander = FakeDevice()
    bystander.enroll(client, db)
    capsys.readouterr()
    assert central_cli(["device", "list", "--json", "--db", db.url]) == 0
    listed = {d["device_id"]: d for d in json.loads(capsys.readouterr().out)}
    assert listed[victim.device_id]["status"] == "active" and listed[victim.device_id]["unit_id"] == "ward-7"

    assert central_cli(["device", "revoke", victim.device_id, "--reason", "workstation stolen from ward 7",
                        "--db", db.url]) == 0
    unsent = [victim.task()]
    for resp in (victim.push(client, unsent), client.get("/v1/pull", headers=victim.auth)):
        assert resp.status_code == 401 and resp.json()["error"] == "device_revoked"
        assert "revoked" in resp.json()["detail"] and "workstation stolen" in resp.json()["detail"]
    assert bystander.push(client, [bystander.init_event()]).status_code == 200

    capsys.readouterr()
    assert central_cli(["device", "list", "--json", "--db", db.url]) == 0
    row = {d["device_id"]: d for d in json.loads(capsys.readouterr().out)}[victim.device_id]
    assert row["status"] == "revoked" and row["revoked_reason"] == "workstation stolen from ward 7"
    with db.read() as conn:  # the revoke is a record at the central, not only a flag
        audit = conn.execute(sa.text("SELECT action, reason FROM device_audit WHERE device_id = :d ORDER BY id"),
                             {"d": victim.device_id}).all()
    assert [a.action for a in audit] == ["enrolled", "revoked"] and audit[1].reason.startswith("workstation")

    # Even holding its key, a revoked device comes back only with a token IT made for it.
    unit_token, _ = create_token(db, victim.site, victim.unit)
    refused = client.post("/v1/enroll", json=victim.enroll_body(unit_token))
    assert refused.status_code == 403 and refused.json()["error"] == "device_revoked"
    capsys.readouterr()
    assert central_cli(["enroll-token", "create", "--site", victim.site, "--unit", victim.unit,
                        "--device", victim.device_id, "--json", "--db", db.url]) == 0
    for_it = json.loads(capsys.readouterr().out)["token"]
    resp = client.post("/v1/enroll", json=victim.enroll_body(for_it))
    assert resp.status_code == 200
    victim.credential = resp.json()["credential"]
    assert victim.push(client, [*unsent, victim.task()]).status_code == 200


def test_revoking_an_unknown_device_is_a_clear_error(api, capsys):
    _client, db = api
    assert central_cli(["device", "revoke", "no-such-device", "--reason", "x", "--db", db.url]) == 1
    assert "no-such-device" in capsys.readouterr().err


def test_enroll_is_rate_limited_per_address_and_overall(central_db):
    app = create_app(central_db, enroll_rate="3/minute", enroll_rate_global="5/minute", metrics_token="m-token")
    dev = FakeDevice()
    body = dev.enroll_body("tet_guessing_tokens_0000")

    def post(address: str) -> httpx.Response:
        with TestClient(app, client=(address, 40000)) as client:
            return client.post("/v1/enroll", json=body)

    assert [post("10.0.0.1").status_code for _ in range(3)] == [401, 401, 401]
    limited = post("10.0.0.1")
    assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert [post("10.0.0.2").status_code for _ in range(2)] == [401, 401]
    assert post("10.0.0.3").status_code == 429  # the whole central's budget is spent
    # Other endpoints are not limited by it.
    with TestClient(app, client=("10.0.0.1", 40000)) as client:
        assert client.get("/healthz").status_code == 200
        seen = client.get("/metrics", headers={"Authorization": "Bearer m-token"}).text
    assert 'tideover_enroll_refused_total{reason="rate_limited"} 2.0' in seen  # guessing shows to IT
    assert 'tideover_enroll_refused_total{reason="token_invalid"} 5.0' in seen
