"""The workstation's settings, in one place: their defaults, the password policy among them, and the
one way to change them.

The settings live in the encrypted store (meta ``settings``). The password policy is also needed
before the store opens (failed unlocks count towards the lockout limit; a recovery sets a new
password), so the keyring keeps a copy of it: ``save`` writes both, so they cannot drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from forms.vocabulary import DEFAULT_MODE

if TYPE_CHECKING:
    from .store import Store

DEFAULT_SETTINGS = {"min_password_length": 15, "lockout_limit": 10, "auto_lock_seconds": 300,
                    "mode": DEFAULT_MODE}
# The settings the keyring holds a copy of, for before the store opens.
PASSWORD_POLICY_KEYS = ("lockout_limit", "min_password_length")


def with_defaults(settings: dict | None) -> dict:
    """``settings`` over the defaults."""
    return {**DEFAULT_SETTINGS, **(settings or {})}


def password_policy(settings: dict | None) -> dict:
    """The password policy part of ``settings`` (defaults filled in): what the keyring keeps."""
    full = with_defaults(settings)
    return {key: int(full[key]) for key in PASSWORD_POLICY_KEYS}


def save(store: Store, settings: dict) -> None:
    """Make ``settings`` the workstation's: in the store and, for its password policy, the keyring."""
    from .keyring import update_keyring

    settings = with_defaults(settings)
    policy = password_policy(settings)
    store.set_meta("settings", json.dumps(settings))
    store.settings = settings
    if store.keyring.policy != policy:
        store.keyring = update_keyring(Path(store.data_dir), lambda kr: setattr(kr, "policy", policy))
