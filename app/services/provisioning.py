"""One-command provisioning: a signed site profile and an enrollment token make a ready workstation.

``provision`` checks the profile before anything is made, then sets up the encrypted store with the
profile's site, unit, password policy and auto-lock, the first admin and the recovery wrap to the
site's recovery key; takes the profile into use (audited); and enrolls with the central the profile
pins (URL, CA bundle, and its keys, which the central's answer must match). Any error on the way
removes everything it made, so the folder can be provisioned again with a good profile or token.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from app.store.store import Store
from sync.clock import Clock
from sync.protocol import CentralKeys

from .enrollment import enroll
from .errors import InputError
from .profiles import apply_profile, check_profile


@dataclass
class Provisioned:
    store: Store
    break_glass_code: str
    enrolled: dict


def provision(data_dir: Path, signed_profile: bytes, profile_key, token: str, admin_id: str, password: str, *,
              admin_name: str | None = None, mode: str = "downtime", transport=None,
              clock: Clock | None = None) -> Provisioned:
    """Set up, configure and enroll a new workstation in ``data_dir`` (absent or empty), or change nothing."""
    clock = clock or Clock()
    profile = check_profile(signed_profile, profile_key, clock.now())
    data_dir = Path(data_dir)
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise InputError(f"{data_dir} is not an empty folder; provisioning sets up a new workstation. To "
                         f"change the profile of this one use `tideover profile apply`.")
    if not token.strip():
        raise InputError("The enrollment token is empty; IT makes one with `tideover-central enroll-token create`.")
    made = _first_missing(data_dir)  # the folder to remove on failure (None: it existed, empty)
    store = None
    try:
        store, code = Store.create(
            data_dir, site_id=profile.site_id, unit_id=profile.unit_id, admin_id=admin_id,
            admin_name=admin_name or admin_id, password=password,
            recovery_public_pem=profile.recovery_public_key.encode(),
            settings={**profile.settings(), "mode": mode}, clock=clock)
        apply_profile(store, signed_profile, profile_key)
        keys = CentralKeys(signing_public_key=profile.central.signing_public_key,
                           bundle_public_key=profile.central.bundle_public_key)
        enrolled = enroll(store, profile.central.url, token, ca_pem=profile.central.ca_pem or None,
                          expect_keys=keys, transport=transport)
    except BaseException:
        if store is not None and store.db is not None:
            store.db.conn.close()
            store.db = None
        _remove(data_dir, made)
        raise
    return Provisioned(store, code, enrolled)


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` that does not exist yet (what provisioning will have made)."""
    missing = None
    for p in (path, *path.parents):
        if p.exists():
            break
        missing = p
    return missing


def _remove(data_dir: Path, made: Path | None) -> None:
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)
    elif data_dir.is_dir():
        for child in data_dir.iterdir():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
