"""The signed manifest of a bundle: `tideover-verify` names every file changed, added or removed.

These run on a small folder laid out like a bundle; tests/test_installer_build.py runs the same
checks on the real PyInstaller bundle."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.cli.release import verify_main
from app.services.release import MANIFEST_NAME, make_manifest, sign_manifest
from sync.keyfiles import new_key_pair


def make_bundle(root: Path, key: Ed25519PrivateKey) -> Path:
    bundle = root / "tideover"
    (bundle / "_internal" / "PySide6" / "Qt" / "plugins" / "platforms").mkdir(parents=True)
    (bundle / "tideover").write_bytes(b"\x7fELF frozen launcher")
    (bundle / "_internal" / "libpython3.11.so.1.0").write_bytes(os.urandom(4096))
    (bundle / "_internal" / "PySide6" / "Qt" / "plugins" / "platforms" / "libqxcb.so").write_bytes(b"xcb" * 100)
    (bundle / "_internal" / "app").mkdir()
    (bundle / "_internal" / "app" / "tideover.qss").write_text("QWidget { font-size: 14pt; }\n")
    os.symlink("libpython3.11.so.1.0", bundle / "_internal" / "libpython3.11.so")
    manifest = make_manifest(bundle, version="0.1.0", built_at="2026-12-02T10:00:00+00:00", platform="linux-x86_64",
                             lock_sha256="ab" * 32)
    (bundle / MANIFEST_NAME).write_bytes(sign_manifest(manifest, key))
    return bundle


@pytest.fixture
def signed(tmp_path):
    priv, pub = new_key_pair(tmp_path / "keys", "release")
    from sync.keyfiles import load_private_key

    return make_bundle(tmp_path, load_private_key(priv)), pub


def verify(bundle: Path, pub: Path) -> int:
    return verify_main([str(bundle), "--public-key", str(pub)])


def test_an_untouched_bundle_verifies(signed, capsys):
    bundle, pub = signed
    assert verify(bundle, pub) == 0
    assert "OK: 5 files of Tideover 0.1.0" in capsys.readouterr().out


def test_one_changed_byte_is_named(signed, capsys):
    bundle, pub = signed
    lib = bundle / "_internal" / "libpython3.11.so.1.0"
    data = bytearray(lib.read_bytes())
    data[2048] ^= 0x01
    lib.write_bytes(bytes(data))
    assert verify(bundle, pub) == 4
    assert capsys.readouterr().out.splitlines() == ["changed: _internal/libpython3.11.so.1.0"]


def test_an_added_file_is_named(signed, capsys):
    bundle, pub = signed
    (bundle / "_internal" / "PySide6" / "Qt" / "plugins" / "platforms" / "libqevil.so").write_bytes(b"x")
    assert verify(bundle, pub) == 4
    assert capsys.readouterr().out.splitlines() == ["added: _internal/PySide6/Qt/plugins/platforms/libqevil.so"]


def test_a_removed_file_is_named(signed, capsys):
    bundle, pub = signed
    (bundle / "_internal" / "app" / "tideover.qss").unlink()
    assert verify(bundle, pub) == 4
    assert capsys.readouterr().out.splitlines() == ["removed: _internal/app/tideover.qss"]


def test_a_repointed_symlink_is_named(signed, capsys):
    bundle, pub = signed
    link = bundle / "_internal" / "libpython3.11.so"
    link.unlink()
    os.symlink("/tmp/elsewhere.so", link)
    assert verify(bundle, pub) == 4
    assert "changed: _internal/libpython3.11.so" in capsys.readouterr().out


def test_a_swapped_signature_fails_naming_the_manifest(signed, tmp_path, capsys):
    bundle, pub = signed
    other = make_bundle(tmp_path / "other", Ed25519PrivateKey.generate())
    mine = json.loads((bundle / MANIFEST_NAME).read_text())
    mine["signature"] = json.loads((other / MANIFEST_NAME).read_text())["signature"]
    (bundle / MANIFEST_NAME).write_text(json.dumps(mine))
    assert verify(bundle, pub) == 4
    assert f"{MANIFEST_NAME}: its signature is not the release key's" in capsys.readouterr().err


def test_a_manifest_edited_to_match_a_changed_file_fails(signed, capsys):
    """Changing a file and its manifest entry together breaks the signature."""
    bundle, pub = signed
    (bundle / "tideover").write_bytes(b"\x7fELF something else")
    signed_manifest = json.loads((bundle / MANIFEST_NAME).read_text())
    from app.services.release import file_entry

    signed_manifest["manifest"]["files"]["tideover"] = file_entry(bundle / "tideover")
    (bundle / MANIFEST_NAME).write_text(json.dumps(signed_manifest))
    assert verify(bundle, pub) == 4
    assert "signature is not the release key's" in capsys.readouterr().err


def test_another_release_key_is_refused(signed, tmp_path, capsys):
    bundle, _pub = signed
    _priv, other_pub = new_key_pair(tmp_path / "other-keys", "release")
    assert verify(bundle, other_pub) == 4
    assert "signature is not the release key's" in capsys.readouterr().err


def test_no_manifest_is_not_a_signed_bundle(signed, capsys):
    bundle, pub = signed
    (bundle / MANIFEST_NAME).unlink()
    assert verify(bundle, pub) == 4
    assert "not a signed Tideover bundle" in capsys.readouterr().err
