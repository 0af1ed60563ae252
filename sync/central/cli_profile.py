"""``tideover-central profile``: IT makes, signs and checks site profiles (sync/profile.py).

The profile key is offline IT's: ``keygen`` writes it beside its public half, ``sign`` needs it
(its passphrase from env TIDEOVER_PROFILE_PASSPHRASE), ``verify`` and every workstation need only
the public half. None of these commands touch the central's database.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sync.bundle import write_atomic
from sync.clock import utc_now
from sync.keyfiles import key_id, load_private_key, load_public_key, new_key_pair
from sync.profile import ProfileRefused, example_profile, placeholders, read_signed_profile, sign_profile

PASSPHRASE_ENV = "TIDEOVER_PROFILE_PASSPHRASE"


def register(sub) -> None:
    prof = sub.add_parser("profile", help="signed site profiles (IT)").add_subparsers(dest="profile",
                                                                                      required=True)
    p = prof.add_parser("keygen", help="make the site profile key pair (site-profile.key, site-profile.pub)",
                        description=f"The private key is encrypted with env {PASSPHRASE_ENV} when set; keep it "
                                    f"offline. The .pub file goes to the installer build and workstations.")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(run=cmd_keygen)
    p = prof.add_parser("example", help="print a site profile template to edit, then sign")
    p.add_argument("--site", required=True)
    p.add_argument("--unit", required=True)
    p.add_argument("--central", required=True, metavar="URL", help="the central's URL the workstations use")
    p.add_argument("--central-keys", type=Path, metavar="FILE",
                   help="the file `tideover-central keys export` wrote: fills in the central's public keys")
    p.add_argument("--recovery-public-key", type=Path, metavar="PEM", help="fills in the site recovery key")
    p.add_argument("--ca-bundle", type=Path, metavar="PEM", help="fills in the central's CA bundle")
    p.add_argument("--out", type=Path, help="write here instead of printing")
    p.set_defaults(run=cmd_example)
    p = prof.add_parser("sign", help="check a profile and sign it with the site profile key")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--key", type=Path, required=True, metavar="PRIV")
    p.add_argument("--out", type=Path, required=True, metavar="SIGNED")
    p.set_defaults(run=cmd_sign)
    p = prof.add_parser("verify", help="check a signed profile as a workstation would (exit 1 if refused)")
    p.add_argument("file", type=Path, metavar="SIGNED")
    p.add_argument("--public-key", type=Path, required=True, metavar="PUB")
    p.set_defaults(run=cmd_verify)


def cmd_keygen(args) -> int:
    passphrase = os.environ.get(PASSPHRASE_ENV)
    priv, pub = new_key_pair(args.out, "site-profile", passphrase.encode() if passphrase else None)
    print(f"Wrote {priv} (keep it offline; signs site profiles) and {pub} (key id "
          f"{key_id(load_public_key(pub))}; give it to the installer build or `tideover provision --profile-key`).")
    return 0


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ProfileRefused(f"Cannot read the {what} {path}: {getattr(err, 'strerror', None) or err}.") from None


def cmd_example(args) -> int:
    profile = example_profile(args.site, args.unit, args.central)
    if args.central_keys:
        try:
            keys = json.loads(_read_text(args.central_keys, "central keys file"))
            profile["central"]["signing_public_key"] = keys["signing_public_key"]
            profile["central"]["bundle_public_key"] = keys["bundle_public_key"]
        except (ValueError, KeyError, TypeError):
            raise ProfileRefused(f"{args.central_keys} is not the file `tideover-central keys export` writes.") from None
    if args.recovery_public_key:
        profile["recovery_public_key"] = _read_text(args.recovery_public_key, "recovery public key")
    if args.ca_bundle:
        profile["central"]["ca_pem"] = _read_text(args.ca_bundle, "CA bundle")
    text = json.dumps(profile, indent=2) + "\n"
    if args.out:
        write_atomic(args.out, text.encode())
        print(f"Wrote {args.out}; edit it, then `tideover-central profile sign`.")
    else:
        print(text, end="")
    return 0


def cmd_sign(args) -> int:
    try:
        profile = json.loads(_read_text(args.file, "site profile"))
    except json.JSONDecodeError as err:
        raise ProfileRefused(f"{args.file} is not valid JSON ({err.msg} at line {err.lineno}).") from None
    if not isinstance(profile, dict):
        raise ProfileRefused(f"{args.file} is not a JSON object.")
    left = placeholders(profile)
    if left:
        raise ProfileRefused(f"{args.file} still has template placeholders in: {', '.join(left)}.")
    passphrase = os.environ.get(PASSPHRASE_ENV)
    key = load_private_key(args.key, passphrase.encode() if passphrase else None)
    write_atomic(args.out, sign_profile(profile, key))
    print(f"Signed {args.file} with key {key_id(key)} into {args.out}.")
    return 0


def cmd_verify(args) -> int:
    try:
        data = args.file.read_bytes()
    except OSError as err:
        raise ProfileRefused(f"Cannot read {args.file}: {err.strerror or err}.") from None
    profile = read_signed_profile(data, load_public_key(args.public_key), utc_now())
    print(f"Good: site {profile.site_id}, unit {profile.unit_id}, serial {profile.serial}, central "
          f"{profile.central.url}, expires {profile.expires_at.isoformat()}.")
    return 0
