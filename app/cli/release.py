"""Checking an installation: ``tideover verify-install``, ``tideover self-test`` and the
``tideover-verify BUNDLE_DIR --public-key FILE`` console script (app/services/release.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.services import release, selftest
from app.services.errors import InputError
from sync.errors import TideoverError
from sync.keyfiles import load_public_key

from . import launcher
from .common import print_json

EXIT_DAMAGED = 4


def register(sub) -> None:
    p = sub.add_parser("verify-install", help="check every file of this installed bundle against its signed "
                                              "manifest (exit 4 naming each file changed, added or removed)")
    p.add_argument("bundle", nargs="?", type=Path, metavar="BUNDLE_DIR",
                   help="the bundle folder (default: the one this tideover runs from)")
    p.add_argument("--public-key", type=Path, metavar="FILE",
                   help="the release public key (default: the copy inside the bundle; give IT's own copy to "
                        "prove the bundle was not rebuilt with another key)")
    p.set_defaults(run=cmd_verify_install)
    p = sub.add_parser("self-test", help="check this installation: a scratch encrypted store, a capture, the "
                                         "chain, SQLCipher, the Qt platform plugin and the stylesheet")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_self_test)


def _bundle_dir(given: Path | None) -> Path:
    if given:
        return given
    if getattr(sys, "frozen", False):
        return Path(sys.executable).resolve().parent
    raise InputError("This tideover is not a bundle; give the bundle folder: tideover verify-install BUNDLE_DIR.")


def verify(bundle: Path, public_key: Path | None) -> int:
    if not bundle.is_dir():
        raise InputError(f"No bundle folder at {bundle}.")
    key = load_public_key(public_key or release.bundled_release_key(bundle))
    verdict = release.verify_bundle(bundle, key)
    for line in verdict.lines():
        print(line)
    if not verdict.ok:
        print(f"tideover-verify: {bundle} is NOT the signed Tideover {verdict.version}: "
              f"{len(verdict.changed)} changed, {len(verdict.added)} added, {len(verdict.removed)} removed.",
              file=sys.stderr)
        return EXIT_DAMAGED
    print(f"OK: {verdict.files} files of Tideover {verdict.version} match the manifest signed by the release key.")
    return 0


def cmd_verify_install(args, ctx) -> int:
    return verify(_bundle_dir(args.bundle), args.public_key)


def cmd_self_test(args, ctx) -> int:
    checks = selftest.store_checks() + launcher.desktop_self_test()
    if args.json:
        print_json([{"check": n, "ok": ok, "detail": d} for n, ok, d in checks])
    else:
        for name, ok, detail in checks:
            print(f"{'ok  ' if ok else 'FAIL'} {name:<22} {detail}")
    failed = [n for n, ok, _d in checks if not ok]
    if failed:
        print(f"tideover: self-test failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def verify_main(argv: list[str] | None = None) -> int:
    """``tideover-verify BUNDLE_DIR --public-key FILE``: check a bundle before or after installing it."""
    parser = argparse.ArgumentParser(prog="tideover-verify",
                                     description="Check a Tideover bundle against its manifest signed by the "
                                                 "release key; names every file changed, added or removed.")
    parser.add_argument("bundle", type=Path, metavar="BUNDLE_DIR")
    parser.add_argument("--public-key", type=Path, required=True, metavar="FILE", help="the release public key (.pub)")
    args = parser.parse_args(argv)
    try:
        return verify(args.bundle, args.public_key)
    except release.InstallDamaged as err:
        print(f"tideover-verify: {err}", file=sys.stderr)
        return EXIT_DAMAGED
    except TideoverError as err:
        print(f"tideover-verify: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(verify_main())
