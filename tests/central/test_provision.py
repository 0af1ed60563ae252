"""`tideover provision`: a signed site profile and a token make an enrolled workstation against the
real central over HTTP on loopback, or leave nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from central_helpers import counts
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from profile_helpers import PASSWORD, ProfileKit

from app.cli import main as tideover
from app.services import profiles
from app.services import sync as sync_service
from app.store.store import Store
from sync.central.db import devices
from sync.central.enroll import create_token
from sync.central.keys import load_keys
from sync.keyfiles import public_key_b64


@pytest.fixture
def site(central, tmp_path, monkeypatch):
    """The central on loopback, a site profile pinning it, the profile key's file, a token."""
    url, db = central
    kit = ProfileKit(central_url=url, central_keys=load_keys(db).public().model_dump())
    (tmp_path / "site-profile.pub").write_text(kit.public_pem())
    monkeypatch.setenv("TIDEOVER_PASSWORD", PASSWORD)
    token, _ = create_token(db, "st-marys", "ward-7")
    return kit, url, db, token


def provision(tmp_path, signed: bytes, token: str, data_dir: Path | None = None) -> int:
    (tmp_path / "signed.json").write_bytes(signed)
    return tideover(["--data-dir", str(data_dir or tmp_path / "ws"), "provision", "--profile",
                     str(tmp_path / "signed.json"), "--token", token, "--admin", "ada",
                     "--profile-key", str(tmp_path / "site-profile.pub")])


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_good_profile_makes_an_enrolled_workstation(site, tmp_path, capsys):
    kit, url, db, token = site
    assert provision(tmp_path, kit.signed(auto_lock_seconds=120), token) == 0
    out = capsys.readouterr().out
    assert "Break-glass code" in out and f"enrolled with {url}" in out
    store = Store.open(tmp_path / "ws", "ada", PASSWORD)
    try:
        meta = store.meta()
        assert (store.site_id, store.unit_id, meta["central_url"]) == ("st-marys", "ward-7", url)
        assert meta["central_signing_key"] == kit.profile["central"]["signing_public_key"]
        assert store.settings["auto_lock_seconds"] == 120
        assert store.keyring.recovery, "the data key is wrapped to the site's recovery key"
        assert profiles.current_profile(store).serial == 1
        with db.read() as conn:
            assert conn.execute(sa.select(devices.c.device_id)).scalars().all() == [store.device_id]
        assert sync_service.sync(store, sync_service.Link.from_store(store))["pushed"] > 0  # the pinned central takes them
    finally:
        store.close()


def test_recovery_opens_a_provisioned_workstation(site, tmp_path, monkeypatch):
    kit, _url, _db, token = site
    assert provision(tmp_path, kit.signed(), token) == 0
    store = Store.recover(tmp_path / "ws", kit.recovery_private, None, "it-rescue", "IT rescue",
                          "another long passphrase for the rescue admin")
    assert store.actor.role == "admin"
    store.close()


@pytest.mark.parametrize(("bad", "said"), [
    (lambda kit: kit.signed(key=Ed25519PrivateKey.generate()), "another key"),
    (lambda kit: kit.signed(expires_at="2026-01-01T00:00:00Z", issued_at="2025-01-01T00:00:00Z"), "expired"),
    (lambda kit: json.dumps(kit.profile).encode(), "not signed"),
    (lambda kit: kit.signed(site_id="st-elsewhere"), "site"),  # the token is for st-marys: the central refuses
])
def test_a_bad_profile_leaves_nothing_behind(site, tmp_path, capsys, bad, said):
    kit, _url, db, token = site
    before = counts(db)
    assert provision(tmp_path, bad(kit), token) == 1
    assert said in capsys.readouterr().err
    assert not (tmp_path / "ws").exists()
    assert counts(db)["devices"] == before["devices"]


def test_a_bad_token_leaves_nothing_behind(site, tmp_path, capsys):
    kit, _url, db, _token = site
    assert provision(tmp_path, kit.signed(), "not-a-token-the-central-made") == 1
    assert capsys.readouterr().err
    assert not (tmp_path / "ws").exists()
    assert counts(db)["devices"] == 0


def test_a_central_with_other_keys_is_refused_and_nothing_kept(site, tmp_path, capsys):
    """A profile pinning other keys than the central at its URL answers with: not the site's central."""
    kit, _url, _db, token = site
    other = public_key_b64(Ed25519PrivateKey.generate())
    kit.profile["central"]["signing_public_key"] = other
    assert provision(tmp_path, kit.signed(), token) == 1
    assert "other keys than the site profile pins" in capsys.readouterr().err
    assert not (tmp_path / "ws").exists()


def test_an_empty_existing_folder_stays_and_is_left_empty(site, tmp_path):
    kit, _url, _db, _token = site
    (tmp_path / "ws").mkdir()
    assert provision(tmp_path, kit.signed(), "spent-or-wrong") == 1
    assert (tmp_path / "ws").is_dir() and list((tmp_path / "ws").iterdir()) == []


def test_a_folder_with_a_store_is_not_provisioned_over(site, tmp_path, capsys):
    kit, _url, _db, token = site
    assert provision(tmp_path, kit.signed(), token) == 0
    keyring = (tmp_path / "ws" / "keyring.json").read_bytes()
    token2, _ = create_token(site[2], "st-marys", "ward-7")
    assert provision(tmp_path, kit.signed(), token2) == 1
    assert "not an empty folder" in capsys.readouterr().err
    assert (tmp_path / "ws" / "keyring.json").read_bytes() == keyring
