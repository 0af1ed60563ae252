"""Making site profiles for tests: a profile key, a central's keys, a recovery key, all synthetic."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.store.keyring import make_recovery_keypair
from sync.keyfiles import public_key_b64
from sync.profile import example_profile, sign_profile

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple ward seven"


class ProfileKit:
    """A site's profile key and a valid profile for st-marys / ward-7, to be edited per test."""

    def __init__(self, central_url: str = "http://127.0.0.1:8470", central_keys: dict | None = None,
                 site: str = "st-marys", unit: str = "ward-7"):
        self.key = Ed25519PrivateKey.generate()
        self.recovery_private, recovery_public = make_recovery_keypair(None)
        other = Ed25519PrivateKey.generate()
        keys = central_keys or {"signing_public_key": public_key_b64(other), "bundle_public_key": public_key_b64(other)}
        self.profile = example_profile(site, unit, central_url, now=NOW - timedelta(days=1))
        self.profile["central"].update(keys)
        self.profile["recovery_public_key"] = recovery_public.decode()

    @property
    def public(self):
        return self.key.public_key()

    def public_pem(self) -> str:
        return self.public.public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def signed(self, key=None, **changes) -> bytes:
        profile = copy.deepcopy(self.profile)
        profile.update(changes)
        return sign_profile(profile, key or self.key)
