"""Signed site profiles: what IT sets per site and unit, signed with the site's profile key.

A signed profile is one JSON file (at most ``MAX_PROFILE_BYTES``)::

    {"format": "tideover-signed-profile/1", "key_id": "<16 hex>", "signature": "<base64>",
     "profile": { ...SiteProfile... }}

The Ed25519 signature covers ``PROFILE_DOMAIN`` followed by the canonical JSON (sync/canonical.py)
of ``profile``, so re-indenting the file keeps it valid while any change of a value breaks it, and a
signature made for anything else (a checkpoint, an answer) can never pass for a profile's.

``read_signed_profile`` checks in this order, and only what passed one step reaches the next: size,
JSON, envelope, signature by the pinned profile key, the model (unknown fields, ids, time zone,
keys, PEM texts, form overlay), then expiry against the given time. The wrong-site check is the
workstation's (app/services/profiles.py), which knows its own site and unit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import zoneinfo
from datetime import datetime
from typing import Annotated, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

import forms
from forms import WORKFLOWS

from .canonical import canonical_bytes
from .clock import utc_now
from .errors import TideoverError
from .fields import ID_PATTERN
from .keyfiles import key_id

PROFILE_FORMAT = "tideover-site-profile/1"
SIGNED_FORMAT = "tideover-signed-profile/1"
PROFILE_DOMAIN = b"tideover-site-profile/1\n"
MAX_PROFILE_BYTES = 256 * 1024  # a profile with a CA bundle and every overlay is a few tens of KB

_Id = Annotated[str, Field(pattern=ID_PATTERN)]
_B64_KEY = Annotated[str, Field(min_length=40, max_length=60, pattern=r"^[A-Za-z0-9+/]+=*$")]


class ProfileRefused(TideoverError):
    """A site profile that may not be used: unsigned, signed by another key, edited, expired, for
    another site, malformed or not newer than the one in use. The workstation keeps its last good one."""

    kind = "profile_refused"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CentralPin(_Strict):
    """The central a provisioned workstation enrolls with and then talks to only: its URL, its TLS
    trust (PEM CA bundle; empty for the system's store or loopback HTTP) and its public keys, as
    ``tideover-central keys export`` writes them."""

    url: str = Field(max_length=300, pattern=r"^https?://[A-Za-z0-9.\-\[\]:]+(:[0-9]{1,5})?(/[\x21-\x7e]*)?$")
    ca_pem: str = Field(default="", max_length=128 * 1024)
    signing_public_key: _B64_KEY
    bundle_public_key: _B64_KEY

    @field_validator("ca_pem")
    @classmethod
    def _pem_text(cls, value: str) -> str:
        if value and "-----BEGIN CERTIFICATE-----" not in value:
            raise ValueError("ca_pem must be PEM certificate text (-----BEGIN CERTIFICATE-----)")
        return value

    @field_validator("signing_public_key", "bundle_public_key")
    @classmethod
    def _raw_32(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value, validate=True)
        except binascii.Error:
            raw = b""
        if len(raw) != 32:
            raise ValueError("a central key is the base64 of 32 bytes (see `tideover-central keys export`)")
        return value


class PasswordPolicy(_Strict):
    min_password_length: int = Field(default=15, ge=12, le=128)
    lockout_limit: int = Field(default=10, ge=1, le=100)


class SiteProfile(_Strict):
    """The settings of one site and unit. Patient identity, the event schema, security controls and
    audit never vary by site; this is what may."""

    format: Literal["tideover-site-profile/1"] = PROFILE_FORMAT
    serial: int = Field(ge=1, le=2**53 - 1, description="a newer profile has a higher serial")
    issued_at: AwareDatetime
    expires_at: AwareDatetime
    site_id: _Id
    unit_id: _Id
    time_zone: str = Field(max_length=64, description="the site's IANA time zone, e.g. Europe/London")
    central: CentralPin
    enabled_workflows: tuple[Literal[WORKFLOWS], ...] = Field(min_length=1)  # type: ignore[valid-type]
    form_overlay: dict = {}
    auto_lock_seconds: int = Field(default=300, ge=30, le=3600)
    password_policy: PasswordPolicy = PasswordPolicy()
    recovery_public_key: str = Field(max_length=1000, description="the site's X25519 recovery key (PEM)")

    @field_validator("time_zone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/London)") from None
        return value

    @field_validator("recovery_public_key")
    @classmethod
    def _x25519_pem(cls, value: str) -> str:
        try:
            key = serialization.load_pem_public_key(value.encode())
        except (ValueError, UnicodeEncodeError):
            key = None
        if not isinstance(key, X25519PublicKey):
            raise ValueError("recovery_public_key must be the PEM X25519 key `tideover recovery keygen` writes")
        return value

    @model_validator(mode="after")
    def _fits(self) -> SiteProfile:
        if self.expires_at <= self.issued_at:
            raise ValueError("expires_at must be after issued_at")
        if "enabled_workflows" in self.form_overlay:
            raise ValueError("set enabled_workflows at the top of the profile, not in form_overlay")
        self.overlay()  # a form overlay that does not fit the forms is refused here, with its reason
        return self

    def overlay(self) -> forms.SiteOverlay:
        """The form overlay the app applies, with this profile's enabled workflows."""
        return forms.parse_overlay({**self.form_overlay, "enabled_workflows": list(self.enabled_workflows)},
                                   source="the site profile's form_overlay")

    def settings(self) -> dict:
        """The workstation settings this profile sets (the store's ``settings`` keys)."""
        return {"auto_lock_seconds": self.auto_lock_seconds, "time_zone": self.time_zone,
                "min_password_length": self.password_policy.min_password_length,
                "lockout_limit": self.password_policy.lockout_limit}


class SignedProfile(_Strict):
    format: Literal["tideover-signed-profile/1"]
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    signature: str = Field(min_length=80, max_length=100, pattern=r"^[A-Za-z0-9+/]+=*$")
    profile: dict


def profile_message(profile: dict) -> bytes:
    """The exact bytes the profile key signs."""
    return PROFILE_DOMAIN + canonical_bytes(profile)


def sign_profile(profile: dict, key: Ed25519PrivateKey) -> bytes:
    """A signed profile file's bytes; ``profile`` is checked against SiteProfile first."""
    model = _validated(profile)
    body = model.model_dump(mode="json")
    signed = {"format": SIGNED_FORMAT, "key_id": key_id(key),
              "signature": base64.b64encode(key.sign(profile_message(body))).decode(), "profile": body}
    return (json.dumps(signed, indent=2, ensure_ascii=True) + "\n").encode()


def read_signed_profile(data: bytes, public_key: Ed25519PublicKey, now: datetime) -> SiteProfile:
    """The profile in a signed profile file's bytes if signed by ``public_key`` and valid at ``now``;
    else ProfileRefused saying why."""
    if len(data) > MAX_PROFILE_BYTES:
        raise ProfileRefused(f"The site profile is {len(data)} bytes; a profile is at most {MAX_PROFILE_BYTES}.")
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ProfileRefused("The site profile is not JSON text; give the file `tideover-central profile sign` "
                             "wrote.") from None
    if isinstance(raw, dict) and "signature" not in raw:
        raise ProfileRefused("The site profile is not signed; sign it with `tideover-central profile sign`.")
    try:
        envelope = SignedProfile.model_validate(raw)
    except ValidationError as err:
        raise ProfileRefused(f"The signed site profile is malformed: {_describe(err)}") from None
    if envelope.key_id != key_id(public_key):
        raise ProfileRefused(f"The site profile is signed by another key ({envelope.key_id}) than this "
                             f"workstation's site profile key ({key_id(public_key)}).")
    try:
        public_key.verify(base64.b64decode(envelope.signature, validate=True), profile_message(envelope.profile))
    except (InvalidSignature, ValueError):
        raise ProfileRefused("The site profile's signature does not match its content: it was changed after "
                             "signing (or signed by another key). Ask IT for the signed file.") from None
    profile = _validated(envelope.profile)
    if profile.expires_at <= now:
        raise ProfileRefused(f"The site profile expired at {profile.expires_at.isoformat()}; ask IT for a new one.")
    return profile


def profile_digest(data: bytes) -> str:
    """SHA-256 (hex) of a signed profile file: names the exact profile in the audit trail."""
    return hashlib.sha256(data).hexdigest()


def _describe(err: ValidationError) -> str:
    """The first few bad fields of a profile, one line, for IT."""
    parts = []
    for e in err.errors()[:3]:
        where = ".".join(str(p) for p in e.get("loc", ())) or "profile"
        msg = e.get("msg", "invalid").removeprefix("Value error, ")
        if e.get("type") == "string_pattern_mismatch" and where.endswith("_id"):
            msg = "may hold only ASCII letters, digits and . _ : - (at most 64, no spaces)"
        parts.append(f"{where}: {msg}" if e.get("type") != "extra_forbidden" else f"{where}: unknown field")
    more = f" (+{err.error_count() - 3} more)" if err.error_count() > 3 else ""
    return "; ".join(parts) + more


def _validated(profile: dict) -> SiteProfile:
    try:
        return SiteProfile.model_validate(profile)
    except ValidationError as err:
        raise ProfileRefused(f"The site profile cannot be used: {_describe(err)}") from None
    except forms.OverlayError as err:
        raise ProfileRefused(f"The site profile's form overlay cannot be used: {err}") from None


def example_profile(site_id: str, unit_id: str, central_url: str, *, now: datetime | None = None) -> dict:
    """A template for IT to edit: placeholders where a real key or certificate must go."""
    now = (now or utc_now()).replace(microsecond=0)
    return {
        "format": PROFILE_FORMAT, "serial": 1,
        "issued_at": now.isoformat().replace("+00:00", "Z"),
        "expires_at": now.replace(year=now.year + 1).isoformat().replace("+00:00", "Z"),
        "site_id": site_id, "unit_id": unit_id, "time_zone": "Europe/London",
        "central": {"url": central_url, "ca_pem": "",
                    "signing_public_key": "REPLACE with signing_public_key from `tideover-central keys export`",
                    "bundle_public_key": "REPLACE with bundle_public_key from `tideover-central keys export`"},
        "enabled_workflows": list(WORKFLOWS),
        "form_overlay": {},
        "auto_lock_seconds": 300,
        "password_policy": {"min_password_length": 15, "lockout_limit": 10},
        "recovery_public_key": "REPLACE with the text of recovery-public.pem (`tideover recovery keygen`)",
    }


_PLACEHOLDER = re.compile(r"^REPLACE ")


def placeholders(profile: dict) -> list[str]:
    """The fields of a template still holding a REPLACE placeholder."""
    out = []
    for k, v in profile.items():
        if isinstance(v, dict):
            out += [f"{k}.{sub}" for sub in placeholders(v)]
        elif isinstance(v, str) and _PLACEHOLDER.match(v):
            out.append(k)
    return out
