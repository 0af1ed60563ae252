"""The site profile on a workstation: taking a signed profile into use, and reading the one in use.

The signed profile file is kept whole in the encrypted store's meta (``site_profile``) with the
profile public key that checked it (``profile_public_key``), so a later profile is checked against
the key pinned at provisioning and the one in use can be shown and checked again. A profile that is
refused changes nothing: the workstation keeps its last good one. A newer one (higher serial)
replaces it and is recorded as a ``device.profile_applied`` event.

What a later profile changes: time zone, auto-lock, the minimum length of new passwords, the
enabled workflows and the form overlay. The lockout limit and the recovery wrap are set at
provisioning (they live in the keyring, outside the store); the central stays the one enrolled with.
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from pathlib import Path

import forms
from app.store import settings as site_settings
from app.store.store import Store
from sync.keyfiles import KeyFileError, key_id, load_public_key, public_key_b64, public_key_from_text
from sync.profile import ProfileRefused, SiteProfile, profile_digest, read_signed_profile

from . import access
from .errors import InputError

PROFILE_META = "site_profile"
PROFILE_KEY_META = "profile_public_key"
BUNDLED_KEY_NAME = "profile-key.pub"  # put into a signed bundle by packaging/build.py --profile-public-key


def bundled_profile_key_path() -> Path | None:
    """The site profile key built into this installed bundle, if it is a bundle that has one."""
    base = getattr(sys, "_MEIPASS", None)
    if base is None:
        return None
    path = Path(base) / BUNDLED_KEY_NAME
    return path if path.exists() else None


def profile_key(given: Path | None):
    """The profile public key to check against: ``given`` (source installs), else the bundle's."""
    path = given or bundled_profile_key_path()
    if path is None:
        raise InputError("No site profile key: this is not a bundle with one built in; give the site's "
                         "profile public key with --profile-key site-profile.pub.")
    return load_public_key(path)


def read_profile_file(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise InputError(f"Cannot read the site profile {path}: {err.strerror or err}.") from None


def check_profile(data: bytes, public_key, now, *, site_id: str | None = None,
                  unit_id: str | None = None) -> SiteProfile:
    """The profile in ``data`` if signed by ``public_key``, in date and (when given) for this site and
    unit; else ProfileRefused."""
    profile = read_signed_profile(data, public_key, now)
    if site_id is not None and (profile.site_id, profile.unit_id) != (site_id, unit_id):
        raise ProfileRefused(f"The site profile is for site {profile.site_id}, unit {profile.unit_id}; this "
                             f"workstation is site {site_id}, unit {unit_id}. Nothing was changed.")
    return profile


def current_profile(store: Store) -> SiteProfile | None:
    """The profile in use (checked when it was applied), or None on a workstation set up without one."""
    return _parsed(store.meta().get(PROFILE_META) or "")


def site_overlay(store: Store) -> forms.SiteOverlay | None:
    """The form overlay (with the enabled workflows) of the profile in use; None without a profile."""
    return _overlay(store.meta().get(PROFILE_META) or "")


def pinned_key(store: Store):
    text = store.meta().get(PROFILE_KEY_META)
    if not text:
        return None
    try:
        return public_key_from_text(text, "the pinned site profile key")
    except KeyFileError:
        raise ProfileRefused("The site profile key pinned on this workstation is damaged; provision it "
                             "again.") from None


def apply_profile(store: Store, data: bytes, public_key=None) -> SiteProfile:
    """Take a newer signed profile into use (admin only); returns it. Refused profiles change nothing."""
    access.require_admin(store)
    pinned = pinned_key(store)
    key = pinned or public_key
    if key is None:
        raise InputError("This workstation has no site profile key yet: give it with --profile-key.")
    if pinned is not None and public_key is not None and key_id(public_key) != key_id(pinned):
        raise ProfileRefused(f"This workstation's site profile key is {key_id(pinned)}; the key given "
                             f"({key_id(public_key)}) is another. Provision it again to change keys.")
    profile = check_profile(data, key, store.clock.now(), site_id=store.site_id, unit_id=store.unit_id)
    current = current_profile(store)
    if current is not None and profile.serial <= current.serial:
        raise ProfileRefused(f"The site profile (serial {profile.serial}) is not newer than the one in use "
                             f"(serial {current.serial}); nothing was changed.")
    enrolled = (store.meta().get("central_url") or "").rstrip("/")
    if enrolled and enrolled != profile.central.url.rstrip("/"):
        raise ProfileRefused(f"The site profile names the central {profile.central.url}, but this workstation "
                             f"is enrolled with {enrolled}; moving it to another central takes a new "
                             f"provisioning. Nothing was changed.")
    store.record("device.profile_applied", {
        "serial": profile.serial, "site_id": profile.site_id, "unit_id": profile.unit_id,
        "key_id": key_id(key), "digest": profile_digest(data), "issued_at": profile.issued_at.isoformat(),
        "expires_at": profile.expires_at.isoformat(), "replaced_serial": current.serial if current else None})
    site_settings.save(store, {**store.settings, **profile.settings()})
    store.set_meta(PROFILE_KEY_META, public_key_b64(key))
    store.set_meta(PROFILE_META, data.decode("utf-8"))
    return profile


def describe(profile: SiteProfile | None) -> dict:
    """What ``tideover profile show`` prints."""
    if profile is None:
        return {"profile": None}
    return {"site_id": profile.site_id, "unit_id": profile.unit_id, "serial": profile.serial,
            "issued_at": profile.issued_at.isoformat(), "expires_at": profile.expires_at.isoformat(),
            "time_zone": profile.time_zone, "central": profile.central.url,
            "enabled_workflows": list(profile.enabled_workflows), "auto_lock_seconds": profile.auto_lock_seconds,
            "min_password_length": profile.password_policy.min_password_length,
            "lockout_limit": profile.password_policy.lockout_limit}


@lru_cache(maxsize=4)
def _overlay(text: str) -> forms.SiteOverlay | None:
    """Checked once per profile text: each capture and amendment asks for it."""
    profile = _parsed(text)
    return profile.overlay() if profile else None


@lru_cache(maxsize=4)
def _parsed(text: str) -> SiteProfile | None:
    if not text:
        return None
    return SiteProfile.model_validate(json.loads(text)["profile"])
