"""A workstation talks only to the central it enrolled with: pinned URL and TLS trust, signed answers.

A fake central is a real small ASGI app served on loopback; a redirecting transport plays the
network attacker who answers on the pinned URL (DNS or a man in the middle).
"""

from __future__ import annotations

import json

import httpx
import orjson
import pytest
from central_helpers import (
    NOW,
    PASSWORD,
    FakeDevice,
    Redirect,
    ThreadServer,
    capture,
    enroll_store,
    held_event_ids,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from store_rows import rows

from app.cli import main as tideover
from app.services import enrollment
from app.services import sync as sync_service
from app.services import workstation as ws
from app.services.errors import InputError
from app.store import eventlog, outbox
from sync import answers
from sync.central.enroll import create_token

NURSE_PASSWORD = "nina knows the ward seven passphrase"


class Recorder(httpx.HTTPTransport):
    """Passes requests through and keeps the last genuine answer per path."""

    def __init__(self):
        super().__init__()
        self.answers: dict[str, tuple[int, dict, bytes]] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        resp = super().handle_request(request)
        resp.read()
        self.answers[request.url.path] = (resp.status_code, dict(resp.headers), resp.content)
        return resp


class FakeCentral:
    """Answers every push 'accepted' and every pull with a census renaming P100001 and a cursor of 999.

    ``forger``: ``unsigned`` (no signature), ``other_key`` (the scheme done right with another key),
    ``replayed`` (genuine answers of the real central, recorded earlier, sent again)."""

    def __init__(self, forger: str, site: str = "st-marys", unit: str = "ward-7", recorded: dict | None = None):
        self.forger, self.recorded, self.seen = forger, recorded or {}, []
        self.key = Ed25519PrivateKey.generate()
        device = FakeDevice(site, unit)
        device.init_event()
        self.census = device.event("census.loaded", {"as_of": NOW, "patients": [
            {"patient_id": "P100001", "family": "Zztest-Forged", "given": "Mallory", "sex": "unknown"}]})
        self.app = Starlette(routes=[Route("/v1/push", self.push, methods=["POST"]),
                                     Route("/v1/pull", self.pull, methods=["GET"])])

    async def push(self, request: Request) -> Response:
        body = await request.body()
        self.seen.append(("push", request.headers.get("authorization")))
        batch = orjson.loads(body)
        results = [{"event_id": e["event_id"], "device_seq": e["device_seq"], "result": "accepted", "reason": None}
                   for e in batch["events"]]
        answer = {"device_id": batch["device_id"], "results": results,
                  "highest_gapless_seq": max(e["device_seq"] for e in batch["events"])}
        return self._answer(request, body, orjson.dumps(answer))

    async def pull(self, request: Request) -> Response:
        self.seen.append(("pull", request.headers.get("authorization")))
        return self._answer(request, b"", orjson.dumps({"events": [self.census], "cursor": 999, "more": False}))

    def _answer(self, request: Request, request_body: bytes, body: bytes) -> Response:
        if self.forger == "replayed":
            status, headers, content = self.recorded[request.url.path]
            keep = {k: v for k, v in headers.items() if k.lower().startswith("tideover-")}
            return Response(content, status_code=status, headers=keep, media_type="application/json")
        headers = {}
        if self.forger == "other_key":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            digest = answers.request_digest(request_body)
            nonce = request.headers.get(answers.NONCE_HEADER, "")
            headers = {answers.DIGEST_HEADER: digest, answers.SIGNATURE_HEADER: answers.sign_answer(
                self.key, 200, request.method, target, nonce, digest, body)}
        return Response(body, headers=headers, media_type="application/json")


def sync(store, **kw):
    return sync_service.sync(store, sync_service.Link.from_store(store), **kw)


def family(store, patient_id: str = "P100001") -> str:
    return rows(store, "SELECT family FROM patients WHERE patient_id = ?", [patient_id])[0]["family"]


def sync_states(store) -> list[dict]:
    return rows(store, "SELECT * FROM sync_state ORDER BY device_seq")


@pytest.mark.parametrize("forger", ["unsigned", "other_key", "replayed"])
def test_a_fake_central_on_the_pinned_url_is_taken_as_no_answer(central, make_store, forger):
    url, db = central
    a, b = make_store("a"), make_store("b")
    enroll_store(a, url, db)
    enroll_store(b, url, db)
    capture(b, "specimen_handoff", "P100002")
    sync(b)
    capture(a)
    recorder = Recorder()
    sync(a, transport=recorder)  # genuine answers, to replay later
    capture(a, "referral", "P100003")
    before = {"pending": outbox.pending_count(a), "cursor": a.meta()["pull_cursor"], "family": family(a),
              "states": sync_states(a), "events": eventlog.event_count(a)}
    assert before["pending"] > 0

    fake = FakeCentral(forger, recorded=recorder.answers)
    with ThreadServer(fake.app) as srv:
        # The push answer claims every event accepted: nothing is marked.
        with pytest.raises(sync_service.UnsignedAnswer, match="not signed by the central this workstation enrolled"):
            sync(a, transport=Redirect(srv.port))
        # The pull page renames a patient and sets the cursor to 999: nothing is applied.
        with sync_service.http_client(sync_service.Link.from_store(a), Redirect(srv.port)) as client:
            with pytest.raises(sync_service.UnsignedAnswer):
                sync_service.pull(a, client)
    assert [kind for kind, _ in fake.seen] == ["push", "pull"]  # it was asked, and answered
    after = {"pending": outbox.pending_count(a), "cursor": a.meta()["pull_cursor"], "family": family(a),
             "states": sync_states(a), "events": eventlog.event_count(a)}
    assert after == before
    assert a.verify() == before["events"]

    # The real central is still the one: the next sync sends everything and pulls from where it was.
    summary = sync(a)
    assert summary["pending"] == 0 and summary["results"]["accepted"] == before["pending"]
    assert family(a) != "Zztest-Forged"
    own = {r["event_id"] for r in rows(a, "SELECT event_id FROM events WHERE device_id = ?", [a.device_id])}
    assert own <= set(held_event_ids(db))


def test_an_answer_signed_for_another_cursor_or_batch_is_refused(central, make_store):
    """The central's own signature does not make an answer to another request acceptable."""
    url, db = central
    a = make_store("a")
    enroll_store(a, url, db)
    capture(a)
    key = sync_service.pinned_central_key(a)
    with sync_service.http_client(sync_service.Link.from_store(a)) as client:
        nonce = answers.new_nonce()
        page = client.get("/v1/pull", params={"after": 0}, headers={answers.NONCE_HEADER: nonce})
        sync_service.check_signed(page, key, "/v1/pull", nonce)  # genuine, for this request
        # The same signed page presented as the answer to another cursor, or to another nonce.
        other = client.build_request("GET", "/v1/pull", params={"after": 5})
        moved = httpx.Response(page.status_code, headers=page.headers, content=page.content, request=other)
        with pytest.raises(sync_service.UnsignedAnswer, match="another request"):
            sync_service.check_signed(moved, key, "/v1/pull", nonce)
        with pytest.raises(sync_service.UnsignedAnswer, match="another request"):
            sync_service.check_signed(page, key, "/v1/pull", answers.new_nonce())
        # A changed body under a genuine signature.
        changed = httpx.Response(page.status_code, headers=page.headers, content=page.content.replace(b"0", b"9"),
                                 request=page.request)
        with pytest.raises(sync_service.UnsignedAnswer):
            sync_service.check_signed(changed, key, "/v1/pull", nonce)


def test_sync_to_another_url_is_refused_for_a_nurse_and_sends_no_credential(central, make_store, monkeypatch,
                                                                            capsys):
    url, db = central
    a = make_store("a")
    enroll_store(a, url, db)
    ws.add_user(a, "nina", "nurse", NURSE_PASSWORD)
    capture(a)
    data_dir = str(a.data_dir)
    a.close()
    fake = FakeCentral("unsigned")
    monkeypatch.setenv("TIDEOVER_PASSWORD", NURSE_PASSWORD)
    nurse = ["--data-dir", data_dir, "--user", "nina"]
    with ThreadServer(fake.app) as srv:
        capsys.readouterr()
        assert tideover([*nurse, "sync", "--central", srv.url]) == 1
        err = capsys.readouterr().err
        assert "syncs only with the central it enrolled with" in err and "enrolls it again" in err
        assert fake.seen == []  # the device credential went nowhere
    # The pinned URL itself (as typed, with a slash) is fine.
    assert tideover([*nurse, "sync", "--central", url + "/"]) == 0
    assert json.loads(capsys.readouterr().out)["pending"] == 0


def test_plain_http_needs_loopback_or_an_explicit_allowance_and_is_then_warned(central, make_store, monkeypatch,
                                                                               capsys):
    url, db = central
    port = int(url.rsplit(":", 1)[1])
    a = make_store("a")
    lan = f"http://central.ward7.test:{port}"
    token, _ = create_token(db, a.site_id, a.unit_id)
    with pytest.raises(InputError, match="--allow-plain-http"):
        enrollment.enroll(a, lan, token, transport=Redirect(port))
    assert not a.meta().get("central_url") and not a.meta().get("central_credential")
    done = enrollment.enroll(a, lan, token, allow_plain_http=True, transport=Redirect(port))
    assert done["plain_http_warning"]
    status = ws.status(a)
    assert status["central_plain_http"] is True and "plain HTTP" in status["warnings"][0]
    data_dir = str(a.data_dir)
    a.close()
    monkeypatch.setenv("TIDEOVER_PASSWORD", PASSWORD)
    capsys.readouterr()
    assert tideover(["--data-dir", data_dir, "--user", "admin", "status", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["central_plain_http"] is True and shown["warnings"] == status["warnings"]
    assert tideover(["--data-dir", data_dir, "--user", "admin", "status"]) == 0
    assert "WARNING: The link to the central is plain HTTP" in capsys.readouterr().out

    # Loopback plain HTTP (the demo, a central on this machine) needs no allowance and is not warned.
    b = make_store("b")
    enroll_store(b, url, db)
    assert ws.status(b)["central_plain_http"] is False and ws.status(b)["warnings"] == []
