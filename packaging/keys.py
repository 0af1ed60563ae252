#!/usr/bin/env python3
"""The release key: the Ed25519 key that signs every bundle's manifest.

    python packaging/keys.py new --out /secure/release-keys     # release.key (private) + release.pub

The private key is encrypted with env TIDEOVER_RELEASE_PASSPHRASE when set; keep it offline (it never
goes into the repository: .gitignore refuses *.key). Give release.pub to everyone who verifies a
bundle: `tideover-verify BUNDLE_DIR --public-key release.pub`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, venv active

from sync.keyfiles import KeyFileError, key_id, load_public_key, new_key_pair  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="keys.py", description="Tideover release signing keys.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("new", help="make a release key pair: release.key and release.pub in --out")
    p.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    passphrase = os.environ.get("TIDEOVER_RELEASE_PASSPHRASE")
    try:
        priv, pub = new_key_pair(args.out, "release", passphrase.encode() if passphrase else None)
    except KeyFileError as err:
        print(f"keys.py: {err}", file=sys.stderr)
        return 1
    print(f"Wrote {priv} (keep it offline; signs releases) and {pub} (key id {key_id(load_public_key(pub))}; "
          f"publish it to whoever verifies bundles).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
