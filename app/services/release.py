"""The signed manifest of an installed bundle: what was built, so IT can prove it is what runs.

``packaging/build.py`` writes ``tideover-manifest.json`` at the bundle's top::

    {"format": "tideover-signed-manifest/1", "key_id": "<16 hex>", "signature": "<base64>",
     "manifest": {"format": "tideover-manifest/1", "name", "version", "built_at", "platform",
                  "lock_sha256", "files": {"_internal/x.so": {"sha256": "...", "size": 123}, ...}}}

The release key (Ed25519) signs ``MANIFEST_DOMAIN`` + the canonical JSON of ``manifest``. Every
file of the bundle but the manifest itself is listed (a symbolic link by its target). ``verify_bundle``
checks the signature first, then names every file changed, added or removed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature

from sync.canonical import canonical_bytes
from sync.errors import TideoverError
from sync.keyfiles import key_id

MANIFEST_NAME = "tideover-manifest.json"
MANIFEST_FORMAT = "tideover-manifest/1"
SIGNED_FORMAT = "tideover-signed-manifest/1"
MANIFEST_DOMAIN = b"tideover-manifest/1\n"
RELEASE_KEY_NAME = "release-key.pub"  # the public release key inside the bundle, for verify-install
_CHUNK = 1024 * 1024


class InstallDamaged(TideoverError):
    """The bundle is not what the release key signed: files changed, added or removed, or no valid manifest."""

    kind = "install_damaged"


@dataclass
class Verdict:
    """What ``verify_bundle`` found; ``ok`` only when every list is empty."""

    version: str = ""
    files: int = 0
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.changed or self.added or self.removed)

    def lines(self) -> list[str]:
        return ([f"changed: {p}" for p in self.changed] + [f"added: {p}" for p in self.added]
                + [f"removed: {p}" for p in self.removed])


def app_version() -> str:
    """This Tideover's version: the installed distribution's (pyproject.toml; in a bundle, the metadata
    packaging/tideover.spec copies in)."""
    from importlib import metadata

    try:
        return metadata.version("tideover")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def bundled_release_key(bundle: Path) -> Path:
    """Where a bundle keeps its copy of the release public key (PyInstaller's _internal folder)."""
    inside = Path(bundle) / "_internal" / RELEASE_KEY_NAME
    return inside if inside.exists() else Path(bundle) / RELEASE_KEY_NAME


def file_entry(path: Path) -> dict:
    """A file's manifest entry: SHA-256 and size, or the target of a symbolic link."""
    if path.is_symlink():
        return {"symlink": os.readlink(path)}
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return {"sha256": digest.hexdigest(), "size": size}


def bundle_files(bundle: Path) -> list[str]:
    """Every file (and symbolic link) under ``bundle`` as a POSIX relative path, sorted; not the manifest."""
    out = []
    for root, dirs, files in os.walk(bundle, followlinks=False):
        here = Path(root)
        for d in list(dirs):
            if (here / d).is_symlink():  # a linked folder is one entry, not walked into
                files.append(d)
                dirs.remove(d)
        for name in files:
            rel = (here / name).relative_to(bundle).as_posix()
            if rel != MANIFEST_NAME:
                out.append(rel)
    return sorted(out)


def make_manifest(bundle: Path, *, version: str, built_at: str, platform: str, lock_sha256: str) -> dict:
    return {"format": MANIFEST_FORMAT, "name": "tideover", "version": version, "built_at": built_at,
            "platform": platform, "lock_sha256": lock_sha256,
            "files": {rel: file_entry(bundle / rel) for rel in bundle_files(bundle)}}


def sign_manifest(manifest: dict, key) -> bytes:
    signed = {"format": SIGNED_FORMAT, "key_id": key_id(key),
              "signature": base64.b64encode(key.sign(MANIFEST_DOMAIN + canonical_bytes(manifest))).decode(),
              "manifest": manifest}
    return (json.dumps(signed, indent=1, sort_keys=True) + "\n").encode()


def read_manifest(bundle: Path, public_key) -> dict:
    """The bundle's manifest if the release key ``public_key`` signed it; else InstallDamaged."""
    path = Path(bundle) / MANIFEST_NAME
    try:
        signed = json.loads(path.read_bytes())
        manifest, signature = signed["manifest"], signed["signature"]
    except FileNotFoundError:
        raise InstallDamaged(f"{MANIFEST_NAME}: missing from {bundle}; this is not a signed Tideover bundle.") from None
    except (ValueError, KeyError, TypeError):
        raise InstallDamaged(f"{MANIFEST_NAME}: not a signed manifest (damaged).") from None
    try:
        public_key.verify(base64.b64decode(signature, validate=True), MANIFEST_DOMAIN + canonical_bytes(manifest))
    except (InvalidSignature, ValueError, TypeError):
        raise InstallDamaged(f"{MANIFEST_NAME}: its signature is not the release key's ({key_id(public_key)}); "
                             f"the manifest or its signature was changed, or another key signed it.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise InstallDamaged(f"{MANIFEST_NAME}: an unknown manifest format.")
    return manifest


def verify_bundle(bundle: Path, public_key) -> Verdict:
    """Check the signature, then every file against the manifest; the Verdict names each difference."""
    bundle = Path(bundle)
    manifest = read_manifest(bundle, public_key)
    listed: dict = manifest["files"]
    present = set(bundle_files(bundle))
    verdict = Verdict(version=str(manifest.get("version", "")), files=len(listed))
    for rel in sorted(listed):
        if rel not in present:
            verdict.removed.append(rel)
        elif file_entry(bundle / rel) != listed[rel]:
            verdict.changed.append(rel)
    verdict.added = sorted(present - set(listed))
    return verdict
