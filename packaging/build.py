#!/usr/bin/env python3
"""Build the signed Tideover bundle for this platform: one folder, its SBOM, its signed manifest.

    python packaging/build.py --signing-key /secure/release-keys/release.key --dist dist \\
        [--profile-public-key /secure/site-keys/site-profile.pub]

Run it from the checkout's venv with the build tools (``python3 packaging/bootstrap.py --dev true``
installs requirements-dev.lock, hash-checked; see docs/deployment.md). Steps:

1. load the release key (env TIDEOVER_RELEASE_PASSPHRASE if it is encrypted) before anything else;
2. PyInstaller with packaging/tideover.spec into ``DIST/tideover`` (the release public key, and the
   site profile public key when given, go inside the bundle);
3. a CycloneDX SBOM of the locked runtime packages (requirements.lock, by cyclonedx-py) into the bundle;
4. the manifest (every file's SHA-256 and size, version, build time, the lock file's SHA-256), signed
   with the release key, as ``DIST/tideover/tideover-manifest.json``.

Prints one JSON object: version, seconds, bundle bytes, file count and the biggest parts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.services.release import MANIFEST_NAME, make_manifest, sign_manifest  # noqa: E402
from sync.clock import utc_now  # noqa: E402
from sync.keyfiles import KeyFileError, load_private_key, load_public_key  # noqa: E402

SPEC = ROOT / "packaging" / "tideover.spec"
LOCK = ROOT / "requirements.lock"
SBOM_NAME = "tideover-sbom.cdx.json"


class BuildError(Exception):
    pass


def project_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def check_installed_version(version: str) -> None:
    """The bundle's version comes from the installed metadata: it must be this checkout's."""
    from importlib import metadata

    try:
        installed = metadata.version("tideover")
    except metadata.PackageNotFoundError:
        raise BuildError("tideover is not installed in this venv; run python3 packaging/bootstrap.py --dev true") from None
    if installed != version:
        raise BuildError(f"the venv has tideover {installed} installed but pyproject.toml says {version}; run "
                         f"python3 packaging/bootstrap.py --dev true again")


def run_pyinstaller(dist: Path, work: Path, keys: dict[str, Path]) -> None:
    env = dict(os.environ)
    for name, path in keys.items():
        env[name] = str(path)
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
           "--distpath", str(dist), "--workpath", str(work), str(SPEC)]
    if subprocess.run(cmd, env=env, cwd=ROOT).returncode != 0:
        raise BuildError("PyInstaller failed (see above)")


def write_sbom(bundle: Path) -> None:
    """A CycloneDX SBOM of the packages the bundle was built from (the runtime lock file)."""
    exe = shutil.which("cyclonedx-py", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    if exe is None:
        raise BuildError("cyclonedx-py is not installed; run python3 packaging/bootstrap.py --dev true")
    source = ["requirements", str(LOCK)] if LOCK.exists() else ["environment", sys.executable]
    cmd = [exe, *source, "--pyproject", str(ROOT / "pyproject.toml"), "--of", "JSON", "--output-reproducible",
           "-o", str(bundle / SBOM_NAME)]
    if subprocess.run(cmd, cwd=ROOT).returncode != 0:
        raise BuildError("cyclonedx-py could not write the SBOM (see above)")


def sizes(bundle: Path) -> tuple[int, int, list[dict]]:
    """Total bytes, file count, and the biggest parts (each top entry of the bundle's _internal folder)."""
    total, count, parts = 0, 0, {}
    inner = bundle / "_internal"
    for path in bundle.rglob("*"):
        if path.is_file() and not path.is_symlink():
            size = path.stat().st_size
            total += size
            count += 1
            rel = path.relative_to(inner if inner in path.parents else bundle).parts
            key = "/".join(rel[:2]) if rel[0] in ("PySide6", "cryptography", "sqlcipher3") else rel[0]
            parts[key] = parts.get(key, 0) + size
    biggest = sorted(parts.items(), key=lambda kv: -kv[1])[:12]
    return total, count, [{"part": k, "mb": round(v / 1e6, 1)} for k, v in biggest]


def build(signing_key: Path, dist: Path, profile_public_key: Path | None, work: Path,
          manifest_only: bool = False) -> dict:
    passphrase = os.environ.get("TIDEOVER_RELEASE_PASSPHRASE")
    key = load_private_key(signing_key, passphrase.encode() if passphrase else None)
    version = project_version()
    check_installed_version(version)
    if profile_public_key:
        load_public_key(profile_public_key)  # refuse a bad key file before a long build
    started = time.monotonic()
    dist = dist.resolve()
    if manifest_only:
        if not (dist / "tideover").is_dir():
            raise BuildError(f"no bundle at {dist / 'tideover'} to sign again")
    else:
        _pyinstaller(key, dist, work, profile_public_key)
    return _finish(key, dist / "tideover", version, started)


def _pyinstaller(key, dist: Path, work: Path, profile_public_key: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="tideover-build-keys-") as tmp:
        from cryptography.hazmat.primitives import serialization

        release_pub = Path(tmp) / "release-key.pub"
        release_pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                              serialization.PublicFormat.SubjectPublicKeyInfo))
        keys = {"TIDEOVER_RELEASE_PUBLIC_KEY": release_pub}
        if profile_public_key:
            shutil.copyfile(profile_public_key, Path(tmp) / "profile-key.pub")
            keys["TIDEOVER_PROFILE_PUBLIC_KEY"] = Path(tmp) / "profile-key.pub"
        run_pyinstaller(dist, work, keys)


def _finish(key, bundle: Path, version: str, started: float) -> dict:
    write_sbom(bundle)
    lock_sha = hashlib.sha256(LOCK.read_bytes()).hexdigest() if LOCK.exists() else ""
    manifest = make_manifest(bundle, version=version, built_at=utc_now().isoformat(timespec="seconds"),
                             platform=f"{sys.platform}-{platform.machine()}", lock_sha256=lock_sha)
    (bundle / MANIFEST_NAME).write_bytes(sign_manifest(manifest, key))
    seconds = time.monotonic() - started
    total, count, biggest = sizes(bundle)
    return {"bundle": str(bundle), "version": version, "build_s": round(seconds, 1), "bundle_mb": round(total / 1e6, 1),
            "files": count, "lock_sha256": lock_sha, "biggest_parts": biggest}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build.py", description="Build and sign the Tideover bundle.")
    parser.add_argument("--signing-key", type=Path, required=True, metavar="FILE", help="the release private key")
    parser.add_argument("--dist", type=Path, required=True, metavar="DIR", help="where DIR/tideover is written")
    parser.add_argument("--profile-public-key", type=Path, metavar="FILE",
                        help="the site profile public key to build in (tideover provision checks against it)")
    parser.add_argument("--manifest-only", action="store_true",
                        help="do not build: write the SBOM and the signed manifest of DIST/tideover again (after "
                             "Authenticode-signing tideover.exe, say)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller", metavar="DIR",
                        help="PyInstaller's work folder")
    args = parser.parse_args(argv)
    try:
        summary = build(args.signing_key, args.dist, args.profile_public_key, args.work, args.manifest_only)
    except (BuildError, KeyFileError) as err:
        print(f"build.py: {err}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
