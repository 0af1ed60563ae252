"""Signed site profiles: what a workstation takes, what it refuses and why, and what it keeps."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from profile_helpers import NOW, PASSWORD, ProfileKit

import forms
from app.cli import main as tideover
from app.services import profiles
from app.services import tasks as ts
from app.services.demo import example_answers
from app.services.errors import InputError
from app.store import eventlog
from app.store.store import Store
from sync.clock import Clock
from sync.profile import MAX_PROFILE_BYTES, ProfileRefused, read_signed_profile


@pytest.fixture
def kit():
    return ProfileKit()


def test_a_signed_profile_reads_back_as_signed(kit):
    profile = read_signed_profile(kit.signed(), kit.public, NOW)
    assert (profile.site_id, profile.unit_id, profile.serial) == ("st-marys", "ward-7", 1)
    assert profile.time_zone == "Europe/London"


def test_reindenting_keeps_the_signature_good(kit):
    signed = json.loads(kit.signed())
    assert read_signed_profile(json.dumps(signed, indent=7).encode(), kit.public, NOW).serial == 1


def test_a_profile_signed_by_another_key_is_refused(kit):
    with pytest.raises(ProfileRefused, match="signed by another key"):
        read_signed_profile(kit.signed(key=Ed25519PrivateKey.generate()), kit.public, NOW)


def test_a_swapped_key_id_does_not_hide_another_signer(kit):
    signed = json.loads(kit.signed(key=Ed25519PrivateKey.generate()))
    signed["key_id"] = json.loads(kit.signed())["key_id"]
    with pytest.raises(ProfileRefused, match="changed after signing"):
        read_signed_profile(json.dumps(signed).encode(), kit.public, NOW)


@pytest.mark.parametrize("edit", [
    lambda p: p.update(auto_lock_seconds=3600),
    lambda p: p["central"].update(url="http://127.0.0.1:9999"),
    lambda p: p.update(enabled_workflows=["ed_triage"]),
    lambda p: p["password_policy"].update(lockout_limit=100),
])
def test_a_profile_edited_after_signing_is_refused(kit, edit):
    signed = json.loads(kit.signed())
    edit(signed["profile"])
    with pytest.raises(ProfileRefused, match="changed after signing"):
        read_signed_profile(json.dumps(signed).encode(), kit.public, NOW)


def test_an_expired_profile_is_refused(kit):
    data = kit.signed(expires_at=(NOW - timedelta(minutes=1)).isoformat())
    with pytest.raises(ProfileRefused, match="expired"):
        read_signed_profile(data, kit.public, NOW)


def test_an_unsigned_profile_is_refused(kit):
    with pytest.raises(ProfileRefused, match="not signed"):
        read_signed_profile(json.dumps(kit.profile).encode(), kit.public, NOW)


@pytest.mark.parametrize(("change", "said"), [
    ({"shoe_size": 42}, "shoe_size: unknown field"),
    ({"site_id": "st-märys"}, "site_id: may hold only ASCII"),
    ({"unit_id": "ward 7"}, "unit_id: may hold only ASCII"),
    ({"time_zone": "Mars/Olympus_Mons"}, "not an IANA time zone"),
    ({"enabled_workflows": ["ed_triage", "karaoke"]}, "enabled_workflows"),
    ({"auto_lock_seconds": 5}, "auto_lock_seconds"),
    ({"recovery_public_key": "not a key"}, "recovery_public_key"),
    ({"form_overlay": {"labels": {"ed_triage": {"no_such_item": "X"}}}}, "no_such_item"),
    ({"form_overlay": {"labels": {"ed_triage": {"chief_complaint": "X"}}, "required": True}}, "cannot vary"),
])
def test_a_malformed_profile_cannot_be_signed_nor_read(kit, change, said):
    with pytest.raises(ProfileRefused, match=said):
        kit.signed(**change)


def test_an_oversized_profile_is_refused_before_parsing(kit):
    with pytest.raises(ProfileRefused, match="at most"):
        read_signed_profile(b" " * (MAX_PROFILE_BYTES + 1), kit.public, NOW)


# --- on a workstation ---------------------------------------------------------------------------

@pytest.fixture
def store(tmp_path):
    store, _code = Store.create(tmp_path / "ws", site_id="st-marys", unit_id="ward-7", admin_id="admin",
                                admin_name="Ada Admin (IT)", password=PASSWORD, clock=Clock(lambda: NOW))
    yield store
    if store.db is not None:
        store.close()


def applied_events(store) -> list[dict]:
    return [json.loads(b)["payload"] for b in eventlog.bodies_of_type(store, "device.profile_applied")]


def test_a_newer_profile_replaces_the_one_in_use_and_is_audited(kit, store):
    profiles.apply_profile(store, kit.signed(), kit.public)
    newer = kit.signed(serial=2, auto_lock_seconds=120)
    profiles.apply_profile(store, newer)  # checked against the key pinned by the first
    assert profiles.current_profile(store).serial == 2
    assert store.settings["auto_lock_seconds"] == 120
    assert [(e["serial"], e["replaced_serial"]) for e in applied_events(store)] == [(1, None), (2, 1)]
    store.verify()  # the audit trail still links


@pytest.mark.parametrize(("bad", "said"), [
    (lambda kit: kit.signed(serial=2, key=Ed25519PrivateKey.generate()), "another key"),
    (lambda kit: kit.signed(serial=2, expires_at=(NOW - timedelta(seconds=1)).isoformat()), "expired"),
    (lambda kit: kit.signed(serial=2, site_id="st-elsewhere"), "for site st-elsewhere"),
    (lambda kit: kit.signed(serial=2, unit_id="ward-9"), "unit ward-9"),
    (lambda kit: kit.signed(serial=1, auto_lock_seconds=60), "not newer"),
    (lambda kit: json.dumps(kit.profile).encode(), "not signed"),
])
def test_a_refused_profile_leaves_the_last_good_one(kit, store, bad, said):
    profiles.apply_profile(store, kit.signed(auto_lock_seconds=600), kit.public)
    before = (store.meta()[profiles.PROFILE_META], store.settings["auto_lock_seconds"], store.head.device_seq)
    with pytest.raises(ProfileRefused, match=said):
        profiles.apply_profile(store, bad(kit))
    assert (store.meta()[profiles.PROFILE_META], store.settings["auto_lock_seconds"], store.head.device_seq) == before
    assert profiles.current_profile(store).serial == 1


def test_another_key_given_later_is_refused(kit, store):
    profiles.apply_profile(store, kit.signed(), kit.public)
    other = ProfileKit()
    with pytest.raises(ProfileRefused, match="another"):
        profiles.apply_profile(store, other.signed(serial=5), other.public)


def test_the_app_takes_the_profile_s_form_overlay(kit, store):
    """The profile's enabled workflows and labels reach capture: a switched-off workflow is refused."""
    from app.services.patients import register_temp_patient

    overlay = {"labels": {"ed_triage": {"chief_complaint": "Reason for attending"}}}
    profiles.apply_profile(store, kit.signed(enabled_workflows=["ed_triage"], form_overlay=overlay), kit.public)
    patient, _similar = register_temp_patient(store, "Testpatient", "Alex", birth_date="1990-01-01")
    ts.capture_task(store, "ed_triage", patient, example_answers("ed_triage"))
    with pytest.raises(InputError, match="not switched on"):
        ts.capture_task(store, "referral", patient, example_answers("referral"))
    q = forms.load_questionnaire("ed_triage", profiles.site_overlay(store))
    assert forms.items_by_link_id(q)["chief_complaint"]["text"] == "Reason for attending"


def test_profile_apply_and_show_from_the_cli(kit, store, tmp_path, monkeypatch, capsys):
    data_dir = store.data_dir
    store.close()
    (tmp_path / "p.json").write_bytes(kit.signed())
    (tmp_path / "p2.json").write_bytes(kit.signed(serial=2, site_id="st-elsewhere"))
    (tmp_path / "k.pub").write_text(kit.public_pem())
    monkeypatch.setenv("TIDEOVER_PASSWORD", PASSWORD)
    base = ["--data-dir", str(data_dir), "--user", "admin"]
    assert tideover([*base, "profile", "apply", str(tmp_path / "p.json"), "--profile-key", str(tmp_path / "k.pub")]) == 0
    assert tideover([*base, "profile", "apply", str(tmp_path / "p2.json")]) == 1
    assert "for site st-elsewhere" in capsys.readouterr().err
    assert tideover([*base, "profile", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["site_id"], shown["serial"], shown["time_zone"]) == ("st-marys", 1, "Europe/London")


def test_a_source_install_without_a_profile_key_is_told_to_give_one():
    with pytest.raises(InputError, match="--profile-key"):
        profiles.profile_key(None)


def test_the_profile_s_password_policy_holds_before_unlock_too(kit, store, tmp_path):
    """The lockout limit counts failed unlocks before the store opens (from the keyring's copy of the
    policy): a profile's stricter limit must reach that copy, not only the settings inside the store."""
    from app.store.errors import AccountLocked, WrongPassword

    profiles.apply_profile(store, kit.signed(password_policy={"min_password_length": 16, "lockout_limit": 3}),
                           kit.public)
    store.close()
    clock = Clock(lambda: NOW)
    with pytest.raises(WrongPassword, match="2 tries left"):
        Store.open(tmp_path / "ws", "admin", "not the password at all", clock=clock)
    later = [NOW + timedelta(hours=1), NOW + timedelta(hours=2)]
    with pytest.raises(WrongPassword, match="1 tries left"):
        Store.open(tmp_path / "ws", "admin", "still not the password", clock=Clock(lambda: later[0]))
    with pytest.raises(AccountLocked, match="now locked"):
        Store.open(tmp_path / "ws", "admin", "third wrong password", clock=Clock(lambda: later[1]))
