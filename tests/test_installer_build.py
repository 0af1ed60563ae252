"""The real PyInstaller bundle, built once for this module: it verifies, it names every file changed,
added or removed, and it runs on its own (no venv, no Python on PATH): --version, self-test, demo.

Building takes minutes; it is skipped, saying so, only where PyInstaller is not installed
(`python3 packaging/bootstrap.py --dev true` installs it from requirements-dev.lock; .ci/run does)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from app.services.release import MANIFEST_NAME
from sync.keyfiles import new_key_pair

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

try:
    import PyInstaller  # noqa: F401

    HAVE_PYINSTALLER = True
except ImportError:
    HAVE_PYINSTALLER = False


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if not HAVE_PYINSTALLER:
        pytest.skip("PyInstaller is not installed in this venv: the bundle cannot be built here "
                    "(python3 packaging/bootstrap.py --dev true installs it from requirements-dev.lock)")
    tmp = tmp_path_factory.mktemp("bundle")
    release_key, release_pub = new_key_pair(tmp / "release", "release")
    _profile_key, profile_pub = new_key_pair(tmp / "site", "site-profile")
    out = subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py"), "--signing-key", str(release_key),
                          "--dist", str(tmp / "dist"), "--work", str(tmp / "work"),
                          "--profile-public-key", str(profile_pub)],
                         capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr[-4000:]
    summary = json.loads(out.stdout)
    shutil.rmtree(tmp / "work", ignore_errors=True)
    return Path(summary["bundle"]), release_pub, profile_pub, summary, tmp


def workstation_env(tmp: Path) -> dict:
    """What a ward PC has: no venv, no Python packages on any path."""
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    return {**env, "PATH": path, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp / "home"),
            "TIDEOVER_DATA_DIR": str(tmp / "ws")}


def frozen(built, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    bundle, _pub, _ppub, _summary, tmp = built
    return subprocess.run([str(bundle / "tideover"), *args], capture_output=True, text=True, timeout=timeout,
                          env=workstation_env(tmp), cwd=tmp, stdin=subprocess.DEVNULL)


def verify(built) -> subprocess.CompletedProcess:
    bundle, pub, *_ = built
    return subprocess.run([shutil.which("tideover-verify", path=str(Path(sys.executable).parent)) or "tideover-verify",
                           str(bundle), "--public-key", str(pub)], capture_output=True, text=True, timeout=300)


def test_the_bundle_verifies_and_its_manifest_says_what_was_built(built):
    bundle, _pub, _ppub, summary, _tmp = built
    proc = verify(built)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = json.loads((bundle / MANIFEST_NAME).read_text())["manifest"]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert manifest["version"] == version == summary["version"]
    assert manifest["lock_sha256"] == hashlib.sha256((ROOT / "requirements.lock").read_bytes()).hexdigest()
    files = manifest["files"]
    assert "_internal/app/ui/resources/tideover.qss" in files
    assert any(p.startswith("_internal/forms/questionnaires/") for p in files)
    assert "tideover-sbom.cdx.json" in files
    plugins = {p.split("/plugins/")[1].split("/")[0] for p in files if "/Qt/plugins/" in p}
    assert "platforms" in plugins and not plugins & {"imageformats", "tls", "sqldrivers", "multimedia"}


def test_the_sbom_is_cyclonedx_and_lists_the_locked_packages(built):
    bundle, *_ = built
    sbom = json.loads((bundle / "tideover-sbom.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    names = {c["name"].lower() for c in sbom["components"]}
    assert {"sqlcipher3", "pyside6-essentials", "cryptography"} <= names


def test_one_changed_byte_an_added_or_removed_file_and_a_swapped_signature_are_named(built):
    bundle, pub, *_ = built
    target = next(p for p in sorted((bundle / "_internal").rglob("*.so*")) if p.is_file() and not p.is_symlink())
    rel = target.relative_to(bundle).as_posix()
    original = target.read_bytes()
    changed = bytearray(original)
    changed[len(changed) // 2] ^= 0x01
    try:
        target.write_bytes(bytes(changed))
        proc = verify(built)
        assert proc.returncode == 4 and proc.stdout.splitlines() == [f"changed: {rel}"]
    finally:
        target.write_bytes(original)

    extra = bundle / "_internal" / "sitecustomize.py"
    try:
        extra.write_text("print('hello')\n")
        proc = verify(built)
        assert proc.returncode == 4 and proc.stdout.splitlines() == ["added: _internal/sitecustomize.py"]
    finally:
        extra.unlink()

    qss = bundle / "_internal" / "app" / "ui" / "resources" / "tideover.qss"
    moved = bundle.parent / "tideover.qss.away"
    qss.rename(moved)
    try:
        proc = verify(built)
        assert proc.returncode == 4 and proc.stdout.splitlines() == ["removed: _internal/app/ui/resources/tideover.qss"]
    finally:
        moved.rename(qss)

    manifest_path = bundle / MANIFEST_NAME
    original = manifest_path.read_bytes()
    signed = json.loads(original)
    sig = bytearray(signed["signature"].encode())
    sig[:8] = sig[8:16]  # another signature of the right shape
    signed["signature"] = sig.decode()
    try:
        manifest_path.write_text(json.dumps(signed))
        proc = verify(built)
        assert proc.returncode == 4 and f"{MANIFEST_NAME}: its signature is not the release key's" in proc.stderr
    finally:
        manifest_path.write_bytes(original)
    assert verify(built).returncode == 0


def test_the_frozen_app_runs_without_python_packages(built):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    proc = frozen(built, "--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"tideover {version}", proc.stderr
    proc = frozen(built, "self-test")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for check in ("SQLCipher", "capture", "chain", "Qt platform plugin", "stylesheet"):
        assert f"ok   {check}" in proc.stdout
    proc = frozen(built, "verify-install")
    assert proc.returncode == 0 and proc.stdout.startswith("OK: "), proc.stdout + proc.stderr


def test_the_frozen_demo_runs_headless(built):
    proc = frozen(built, "demo", "--headless", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Zztest" in proc.stdout


def test_the_frozen_app_has_the_site_profile_key_built_in(built, tmp_path):
    """`tideover provision` in the bundle checks profiles against the built-in key without --profile-key."""
    bundle, _pub, profile_pub, *_ = built
    assert (bundle / "_internal" / "profile-key.pub").read_bytes() == profile_pub.read_bytes()
    (tmp_path / "unsigned.json").write_text("{}")
    proc = frozen(built, "provision", "--profile", str(tmp_path / "unsigned.json"), "--token", "t", "--admin", "ada",
                  timeout=120)
    assert proc.returncode == 1 and "not signed" in proc.stderr, proc.stderr
