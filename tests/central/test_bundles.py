"""Air-gap bundles: export at the workstation, import at the central, the signed receipt back."""

from __future__ import annotations

import base64
import json
import sqlite3

import pytest
from central_helpers import PASSWORD, capture, counts, enroll_store, held_event_ids
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from store_rows import rows

from app.cli import main as tideover
from app.store import outbox
from app.store.store import Store
from sync.bundle import sign_receipt
from sync.central.cli import main as central_cli


def reopen(store) -> Store:
    data_dir = store.data_dir
    if store.db is not None:
        store.db.conn.close()
        store.db = None
    return Store.open(data_dir, "admin", PASSWORD)


def close(store) -> str:
    data_dir = store.data_dir
    store.db.conn.close()
    store.db = None
    return str(data_dir)


def own_ids(store) -> set[str]:
    return {r["event_id"] for r in rows(store, "SELECT event_id FROM events WHERE device_id = ?", [store.device_id])}


def run_central(*args) -> int:
    return central_cli(list(args))


@pytest.fixture
def ws(make_store, monkeypatch):
    monkeypatch.setenv("TIDEOVER_PASSWORD", PASSWORD)
    store = make_store("ws")
    capture(store, "med_reconciliation")
    return store


def test_bundle_round_trip_marks_events_synced_and_reimports_change_nothing(ws, central_db, tmp_path, capsys):
    db = central_db
    key_file = tmp_path / "central-key.json"
    assert run_central("keys", "export", "--db", db.url, "--out", str(key_file)) == 0
    data_dir = close(ws)
    base = ["--data-dir", data_dir, "--user", "admin"]
    bundle, receipt = tmp_path / "ward7.bundle", tmp_path / "ward7.receipt"
    capsys.readouterr()
    assert tideover([*base, "bundle", "export", "--out", str(bundle), "--central-key", str(key_file)]) == 0
    exported = json.loads(capsys.readouterr().out)
    raw = bundle.read_bytes()
    assert b"Zztest" not in raw and b"P100001" not in raw and b"med_reconciliation" not in raw

    assert run_central("bundle", "import", str(bundle), "--receipt", str(receipt), "--db", db.url,
                       "--register-site", "st-marys", "--register-unit", "ward-7") == 0
    imported = json.loads(capsys.readouterr().out)
    assert imported["results"] == {"accepted": exported["events"]}
    store = reopen(ws)
    bundled = own_ids(store)
    assert set(held_event_ids(db)) <= bundled and len(held_event_ids(db)) == exported["events"]
    store.close()

    assert tideover([*base, "bundle", "import-receipt", str(receipt)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["results"]["accepted"] == exported["events"]
    store = reopen(ws)
    answered = rows(store, "SELECT count(*) AS n FROM sync_state WHERE state = 'synced'")[0]["n"]
    assert answered == exported["events"]
    store.close()

    # Importing the bundle again gives the same receipt and writes nothing.
    before, first_receipt = counts(db), receipt.read_text()
    assert run_central("bundle", "import", str(bundle), "--receipt", str(receipt), "--db", db.url) == 0
    assert counts(db) == before and receipt.read_text() == first_receipt
    # Importing the receipt again changes nothing either.
    store = reopen(ws)
    states = rows(store, "SELECT * FROM sync_state ORDER BY device_seq")
    store.close()
    assert tideover([*base, "bundle", "import-receipt", str(receipt)]) == 0
    store = reopen(ws)
    assert rows(store, "SELECT * FROM sync_state ORDER BY device_seq") == states
    store.close()


def test_truncated_or_corrupt_bundles_are_clear_errors_and_write_nothing(ws, central_db, tmp_path, capsys):
    db = central_db
    key_file = tmp_path / "central-key.json"
    run_central("keys", "export", "--db", db.url, "--out", str(key_file))
    base = ["--data-dir", close(ws), "--user", "admin"]
    bundle = tmp_path / "b.bundle"
    assert tideover([*base, "bundle", "export", "--out", str(bundle), "--central-key", str(key_file)]) == 0
    raw = bundle.read_bytes()
    flipped = bytearray(raw)
    flipped[-40] ^= 0x01
    cases = {"truncated": raw[: len(raw) // 2], "header-cut": raw[:30], "flipped": bytes(flipped),
             "not-a-bundle": b"hello", "empty": b""}
    before = counts(db)
    for name, data in cases.items():
        bad, receipt = tmp_path / f"{name}.bundle", tmp_path / f"{name}.receipt"
        bad.write_bytes(data)
        capsys.readouterr()
        assert run_central("bundle", "import", str(bad), "--receipt", str(receipt), "--db", db.url) == 1, name
        err = capsys.readouterr().err
        assert err.startswith("tideover-central: ") and err.count("\n") == 1 and "Traceback" not in err, name
        assert not receipt.exists(), name
        assert counts(db) == before, name


def test_a_forged_receipt_is_refused_and_marks_nothing(ws, central, tmp_path, capsys):
    url, db = central
    enroll_store(ws, url, db)
    base = ["--data-dir", close(ws), "--user", "admin"]
    bundle, receipt = tmp_path / "b.bundle", tmp_path / "b.receipt"
    assert tideover([*base, "bundle", "export", "--out", str(bundle)]) == 0
    assert run_central("bundle", "import", str(bundle), "--receipt", str(receipt), "--db", db.url) == 0
    forged = json.loads(receipt.read_text())
    forged["results"] = forged["results"] + [dict(forged["results"][-1], device_seq=999)]
    receipt.write_text(json.dumps(forged))
    capsys.readouterr()
    assert tideover([*base, "bundle", "import-receipt", str(receipt)]) == 1
    assert "not signed" in capsys.readouterr().err
    store = reopen(ws)
    assert rows(store, "SELECT count(*) AS n FROM sync_state")[0]["n"] == 0
    store.close()


def test_enrolled_workstation_mixes_http_and_bundle(ws, central, tmp_path, capsys):
    from app.services import sync as sync_service

    url, db = central
    enroll_store(ws, url, db)
    sync_service.sync(ws, sync_service.Link.from_store(ws))
    capture(ws, "referral", "P100002")
    base = ["--data-dir", close(ws), "--user", "admin"]
    bundle, receipt = tmp_path / "b.bundle", tmp_path / "b.receipt"
    assert tideover([*base, "bundle", "export", "--out", str(bundle)]) == 0
    assert run_central("bundle", "import", str(bundle), "--receipt", str(receipt), "--db", db.url) == 0
    assert tideover([*base, "bundle", "import-receipt", str(receipt)]) == 0
    store = reopen(ws)
    ids = own_ids(store)
    # Everything up to the export is held once; the events since (the sign-ins of these commands) are pending.
    held = held_event_ids(db)
    assert len(held) == len(set(held)) and set(held) <= ids
    assert outbox.pending_count(store) == len(ids) - len(held)
    store.close()


def test_a_never_enrolled_workstations_bundle_needs_it_to_vouch_for_its_site_and_unit(ws, central_db, tmp_path,
                                                                                      capsys):
    db = central_db
    key_file = tmp_path / "central-key.json"
    assert run_central("keys", "export", "--db", db.url, "--out", str(key_file)) == 0
    base = ["--data-dir", close(ws), "--user", "admin"]
    bundle, receipt = tmp_path / "ws.bundle", tmp_path / "ws.receipt"
    assert tideover([*base, "bundle", "export", "--out", str(bundle), "--central-key", str(key_file)]) == 0
    before = counts(db)
    for vouch in ([], ["--register-site", "st-marys", "--register-unit", "ward-9"],
                  ["--register-site", "other-site", "--register-unit", "ward-7"]):
        capsys.readouterr()
        assert run_central("bundle", "import", str(bundle), "--receipt", str(receipt), "--db", db.url,
                           *vouch) == 1, vouch
        err = capsys.readouterr().err
        assert "not enrolled" in err or "is for st-marys/ward-7, not" in err, err
        assert not receipt.exists() and counts(db) == before, vouch
    capsys.readouterr()
    assert run_central("bundle", "import", str(bundle), "--receipt", str(receipt), "--db", db.url) == 1
    assert "--register-site st-marys --register-unit ward-7" in capsys.readouterr().err
    assert run_central("bundle", "import", str(bundle), "--receipt", str(receipt), "--db", db.url,
                       "--register-site", "st-marys", "--register-unit", "ward-7") == 0
    assert counts(db)["devices"] == before["devices"] + 1 and counts(db)["events"] > before["events"]


REGISTER = ("--register-site", "st-marys", "--register-unit", "ward-7")  # IT vouches for a never-enrolled one


def forged_keys_and_receipt(genuine_receipt: dict, store_ids: list[tuple[str, int]], tmp_path):
    """A forger's key file and a receipt it signed, claiming every event of the workstation held."""
    forger = Ed25519PrivateKey.generate()
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    key_file = tmp_path / "forged-key.json"
    key_file.write_text(json.dumps({
        "bundle_public_key": base64.b64encode(X25519PrivateKey.generate().public_key().public_bytes(*raw)).decode(),
        "signing_public_key": base64.b64encode(forger.public_key().public_bytes(*raw)).decode()}))
    body = {k: v for k, v in genuine_receipt.items() if k not in ("signature", "format")}
    body.update(results=[{"event_id": e, "device_seq": s, "result": "accepted", "reason": None} for e, s in store_ids],
                highest_gapless_seq=999, issued_at="2099-01-01T00:00:00.000Z")
    receipt = tmp_path / "forged.receipt"
    receipt.write_text(json.dumps(sign_receipt(body, forger)))
    return key_file, receipt


def test_a_forged_key_file_and_receipt_mark_nothing_and_the_next_bundle_goes_to_the_real_central(
        ws, central_db, tmp_path, capsys):
    db = central_db
    key_file = tmp_path / "central-key.json"
    assert run_central("keys", "export", "--db", db.url, "--out", str(key_file)) == 0
    base = ["--data-dir", close(ws), "--user", "admin"]
    first, genuine = tmp_path / "1.bundle", tmp_path / "1.receipt"
    assert tideover([*base, "bundle", "export", "--out", str(first), "--central-key", str(key_file)]) == 0
    assert run_central("bundle", "import", str(first), "--receipt", str(genuine), "--db", db.url,
                       *REGISTER) == 0
    store = reopen(ws)
    ids = [(r["event_id"], r["device_seq"]) for r in rows(store,
        "SELECT event_id, device_seq FROM events WHERE device_id = ?", [store.device_id])]
    pinned = {k: v for k, v in store.meta().items() if k.startswith("central_")}
    store.close()
    forged_key, forged = forged_keys_and_receipt(json.loads(genuine.read_text()), ids, tmp_path)

    capsys.readouterr()
    assert tideover([*base, "bundle", "import-receipt", str(forged), "--central-key", str(forged_key)]) == 1
    assert "not the key of the central this workstation trusts" in capsys.readouterr().err
    assert tideover([*base, "bundle", "import-receipt", str(forged)]) == 1
    assert "not signed by this workstation's central" in capsys.readouterr().err
    assert tideover([*base, "bundle", "export", "--out", str(tmp_path / "x.bundle"), "--central-key",
                     str(forged_key)]) == 1
    assert not (tmp_path / "x.bundle").exists()
    store = reopen(ws)
    assert rows(store, "SELECT count(*) AS n FROM sync_state")[0]["n"] == 0
    assert {k: v for k, v in store.meta().items() if k.startswith("central_")} == pinned
    store.close()

    # The next bundle is encrypted to the genuine central, starts where it stands, and imports there.
    second, receipt = tmp_path / "2.bundle", tmp_path / "2.receipt"
    assert tideover([*base, "bundle", "export", "--out", str(second)]) == 0
    assert json.loads(capsys.readouterr().out)["first_seq"] == 1
    assert run_central("bundle", "import", str(second), "--receipt", str(receipt), "--db", db.url) == 0
    assert tideover([*base, "bundle", "import-receipt", str(receipt)]) == 0
    store = reopen(ws)
    held = held_event_ids(db)
    assert len(held) == len(set(held)) and set(held) == {e for e, _ in ids} | (set(held) & own_ids(store))
    assert rows(store, "SELECT count(*) AS n FROM sync_state WHERE state = 'synced'")[0]["n"] == len(held)
    store.close()


def test_only_an_admin_pins_the_central_key_once_and_a_receipt_never_pins_it(ws, central_db, tmp_path, capsys,
                                                                           monkeypatch):
    from app.services import workstation as wsvc

    db = central_db
    key_file = tmp_path / "central-key.json"
    run_central("keys", "export", "--db", db.url, "--out", str(key_file))
    wsvc.add_user(ws, "nina", "nurse", "nina knows the ward seven passphrase")
    data_dir = close(ws)
    bundle, receipt = tmp_path / "b.bundle", tmp_path / "b.receipt"
    monkeypatch.setenv("TIDEOVER_PASSWORD", "nina knows the ward seven passphrase")
    capsys.readouterr()
    assert tideover(["--data-dir", data_dir, "--user", "nina", "bundle", "export", "--out", str(bundle),
                     "--central-key", str(key_file)]) == 3
    assert "Only a admin" in capsys.readouterr().err or not bundle.exists()
    monkeypatch.setenv("TIDEOVER_PASSWORD", PASSWORD)
    admin = ["--data-dir", data_dir, "--user", "admin"]
    # A receipt cannot bring its own key to a workstation that has none pinned.
    receipt.write_text("{}")
    assert tideover([*admin, "bundle", "import-receipt", str(receipt), "--central-key", str(key_file)]) == 1
    assert "no central key pinned" in capsys.readouterr().err
    store = reopen(ws)
    assert not store.meta().get("central_signing_key")
    store.close()
    assert tideover([*admin, "bundle", "export", "--out", str(bundle), "--central-key", str(key_file)]) == 0
    store = reopen(ws)
    assert store.meta()["central_keys_pinned_by"].startswith("admin at ")
    store.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_central_restored_from_a_backup_gets_the_lost_events_again_by_bundle(ws, central_db, tmp_path, capsys):
    """The air-gap path goes on from where the central's last genuine receipt says it stands."""
    db = central_db
    key_file = tmp_path / "central-key.json"
    run_central("keys", "export", "--db", db.url, "--out", str(key_file))
    base = ["--data-dir", close(ws), "--user", "admin"]

    def round_trip(name: str, *extra: str) -> tuple[dict, int]:
        bundle, receipt = tmp_path / f"{name}.bundle", tmp_path / f"{name}.receipt"
        capsys.readouterr()
        assert tideover([*base, "bundle", "export", "--out", str(bundle), *extra]) == 0
        exported = json.loads(capsys.readouterr().out)
        run_central("bundle", "import", str(bundle), "--receipt", str(receipt), "--db", db.url,
                    *(REGISTER if name == "1" else ()))
        return exported, tideover([*base, "bundle", "import-receipt", str(receipt)])

    one, code = round_trip("1", "--central-key", str(key_file))
    assert code == 0
    backup = tmp_path / "central-backup.db"
    with sqlite3.connect(db.url.removeprefix("sqlite:///")) as src, sqlite3.connect(backup) as dst:
        src.backup(dst)
    assert round_trip("2")[1] == 0
    db.dispose()
    with sqlite3.connect(backup) as src, sqlite3.connect(db.url.removeprefix("sqlite:///")) as dst:
        src.backup(dst)  # the central comes back from the backup: bundle 2's events are gone
    three, code = round_trip("3")
    assert code == 1  # refused: the bundle starts past what the central holds (seq_gap), nothing marked
    four, code = round_trip("4")
    assert code == 0 and four["first_seq"] == one["last_seq"] + 1 < three["first_seq"]
    store = reopen(ws)
    held = held_event_ids(db, store.device_id)
    exported_up_to = max(r["device_seq"] for r in rows(store, "SELECT device_seq FROM sync_state"))
    assert len(held) == len(set(held)) == exported_up_to
    store.close()
