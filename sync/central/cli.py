"""The ``tideover-central`` command: serve the API and look after the central event store.

Every command takes ``--db URL`` (a SQLite file path, ``sqlite:///...`` or ``postgresql://...``;
env TIDEOVER_CENTRAL_DB) and brings the schema to the newest migration first.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

import sqlalchemy as sa

from sync.errors import TideoverError
from sync.exit_codes import EXIT_BUG, EXIT_INTEGRITY, EXIT_INTERRUPTED, EXIT_REFUSED, exit_code

from . import cli_profile
from .db import DEFAULT_DB, ENV_DB, ENV_KEYS_DIR, CentralDB, redacted

EXIT_BROKEN = EXIT_INTEGRITY  # the one table of both commands (sync.exit_codes): a break is 4 in both


def _db_option(p: argparse.ArgumentParser, default=argparse.SUPPRESS) -> None:
    p.add_argument("--db", default=default, metavar="URL",
                   help=f"database: a SQLite file, sqlite:///PATH or postgresql://USER@HOST/DB "
                        f"(env {ENV_DB}; default ./{DEFAULT_DB})")
    p.add_argument("--keys-dir", default=default, metavar="DIR", type=Path,
                   help=f"folder of the central's private keys, kept apart from the database (env "
                        f"{ENV_KEYS_DIR}; default: beside a SQLite file, or per database in the user's data "
                        f"folder for PostgreSQL)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tideover-central",
                                     description="The Tideover central canonical event store.")
    _db_option(parser, default=None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("serve", help="run the HTTP API")
    _db_option(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8470)
    p.add_argument("--tls-cert", type=Path, help="PEM certificate chain for HTTPS")
    p.add_argument("--tls-key", type=Path, help="PEM private key for HTTPS")
    p.add_argument("--max-body-mb", type=float, default=32, help="largest request body accepted (413 above)")
    p.add_argument("--workers", type=int, default=1,
                   help="server processes on this port (each is stateless; Prometheus counters are per process)")
    p.add_argument("--metrics-token", metavar="TOKEN",
                   help="serve /metrics to `Authorization: Bearer TOKEN` only (env TIDEOVER_METRICS_TOKEN, "
                        "which keeps it off the process list); without one /metrics is off")
    p.add_argument("--docs", action="store_true", help="serve /docs, /redoc and /openapi.json (off by default)")
    p.add_argument("--enroll-rate", default=None, metavar="RATE",
                   help="enrollment attempts per client address (default 10/minute); 429 beyond")
    p.add_argument("--enroll-rate-global", default=None, metavar="RATE",
                   help="enrollment attempts from all addresses together (default 60/minute)")
    p.set_defaults(run=cmd_serve)

    p = sub.add_parser("migrate", help="bring the schema to the newest migration")
    _db_option(p)
    p.set_defaults(run=cmd_migrate)

    tok = sub.add_parser("enroll-token", help="one-time enrollment tokens").add_subparsers(dest="tok", required=True)
    p = tok.add_parser("create", help="print a one-time, expiring token for one workstation")
    _db_option(p)
    p.add_argument("--site", required=True)
    p.add_argument("--unit", required=True)
    p.add_argument("--ttl-hours", type=float, default=24)
    p.add_argument("--device", metavar="DEVICE_ID",
                   help="only this device may spend the token (how a revoked device is let back in)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_token_create)

    dev = sub.add_parser("device", help="enrolled devices").add_subparsers(dest="dev", required=True)
    p = dev.add_parser("list", help="every device with its site, unit, status (active or revoked) and last push")
    _db_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_device_list)
    p = dev.add_parser("revoke", help="kill a device's credential at once (its pushes and pulls get 401), recorded")
    _db_option(p)
    p.add_argument("device_id", metavar="DEVICE_ID")
    p.add_argument("--reason", required=True, help="why, kept in the central's device record")
    p.set_defaults(run=cmd_device_revoke)

    keys = sub.add_parser("keys", help="the central's public keys").add_subparsers(dest="keys", required=True)
    p = keys.add_parser("export", help="write the public keys a never-enrolled workstation needs for bundles")
    _db_option(p)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(run=cmd_keys_export)

    cli_profile.register(sub)

    bundle = sub.add_parser("bundle", help="air-gap bundles").add_subparsers(dest="bundle", required=True)
    p = bundle.add_parser("import", help="ingest a workstation's bundle and write a signed receipt")
    _db_option(p)
    p.add_argument("file", type=Path)
    p.add_argument("--receipt", type=Path, required=True, help="where to write the receipt")
    p.add_argument("--register-site", metavar="SITE",
                   help="vouch for a never-enrolled workstation of this site (must match the bundle)")
    p.add_argument("--register-unit", metavar="UNIT",
                   help="vouch for a never-enrolled workstation of this unit (must match the bundle)")
    p.set_defaults(run=cmd_bundle_import)

    p = sub.add_parser("stats", help="events, devices, per-device highest seq, quarantine, conflicts")
    _db_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_stats)

    p = sub.add_parser("verify", help="re-check every device chain and checkpoint signature (exit 4 on a break)")
    _db_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_verify)

    conf = sub.add_parser("conflicts", help="concurrent task edits").add_subparsers(dest="conf", required=True)
    p = conf.add_parser("list", help="tasks edited on two devices from the same version")
    _db_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_conflicts)

    aside = sub.add_parser("set-aside", help="events workstations could not take").add_subparsers(
        dest="aside", required=True)
    p = aside.add_parser("list", help="workstations' reports of pulled events they set aside, with the reason")
    _db_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_set_aside_list)

    p = sub.add_parser("withhold", help="keep a stored event out of every pull from now on (recorded; nothing "
                                        "is deleted)")
    _db_option(p)
    p.add_argument("event_id", metavar="EVENT_ID")
    p.add_argument("--reason", required=True, help="why, kept with the record of who withheld it and when")
    p.set_defaults(run=cmd_withhold)
    held = sub.add_parser("withheld", help="events withheld from pulls").add_subparsers(dest="held", required=True)
    p = held.add_parser("list", help="every withheld event with the reason, who and when")
    _db_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_withheld_list)

    quar = sub.add_parser("quarantine", help="held-back events").add_subparsers(dest="quar", required=True)
    p = quar.add_parser("list", help="events quarantined or rejected, with the reason (no bodies)")
    _db_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_quarantine)
    return parser


def _open(args) -> CentralDB:
    db = CentralDB(args.db, keys_dir=getattr(args, "keys_dir", None))
    db.migrate()
    return db


def _who() -> str:
    import getpass

    try:
        return f"{getpass.getuser()} (tideover-central)"
    except (KeyError, OSError):
        return "tideover-central"


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _print(obj) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))


def cmd_serve(args) -> int:
    import os

    import uvicorn

    if bool(args.tls_cert) != bool(args.tls_key):
        raise TideoverError("Give both --tls-cert and --tls-key, or neither.")
    from .app import ENV_DOCS, ENV_ENROLL_RATE, ENV_ENROLL_RATE_GLOBAL, ENV_METRICS_TOKEN
    from .keys import load_keys
    from .ratelimit import ENROLL_RATE, ENROLL_RATE_GLOBAL, EnrollLimiter

    db = _open(args)
    load_keys(db)  # made (or moved out of an old database) once, before the workers start
    EnrollLimiter(args.enroll_rate or os.environ.get(ENV_ENROLL_RATE) or ENROLL_RATE,  # a typo fails here,
                  args.enroll_rate_global or os.environ.get(ENV_ENROLL_RATE_GLOBAL) or ENROLL_RATE_GLOBAL)  # once
    scheme = "https" if args.tls_cert else "http"
    print(f"tideover-central: serving {redacted(db.url)} on {scheme}://{args.host}:{args.port} "
          f"({args.workers} worker{'s' if args.workers > 1 else ''})", file=sys.stderr)
    if scheme == "http" and not _is_loopback(args.host):
        print(f"tideover-central: WARNING: plain HTTP on {args.host}: device credentials and events cross "
              f"the network unencrypted. Give --tls-cert and --tls-key (or serve on 127.0.0.1 behind a TLS "
              f"proxy).", file=sys.stderr)
    for path in db.readable_by_others():
        print(f"tideover-central: WARNING: {path} is readable by other users of this machine; "
              f"chmod 600 it.", file=sys.stderr)
    # Workers are separate processes sharing nothing but the database (like separate servers), so
    # each builds its app from the environment.
    os.environ[ENV_DB] = db.url
    os.environ[ENV_KEYS_DIR] = str(db.keys_dir)
    os.environ["TIDEOVER_CENTRAL_MAX_BODY"] = str(int(args.max_body_mb * 1024 * 1024))
    if args.metrics_token:
        os.environ[ENV_METRICS_TOKEN] = args.metrics_token
    if args.docs:
        os.environ[ENV_DOCS] = "1"
    if args.enroll_rate:
        os.environ[ENV_ENROLL_RATE] = args.enroll_rate
    if args.enroll_rate_global:
        os.environ[ENV_ENROLL_RATE_GLOBAL] = args.enroll_rate_global
    db.dispose()
    uvicorn.run("sync.central.app:app_from_env", factory=True, workers=max(1, args.workers), host=args.host,
                port=args.port, log_level="warning", access_log=False,
                ssl_certfile=str(args.tls_cert) if args.tls_cert else None,
                ssl_keyfile=str(args.tls_key) if args.tls_key else None, timeout_graceful_shutdown=5)
    return 0


def cmd_migrate(args) -> int:
    db = _open(args)
    print(f"Schema of {redacted(db.url)} is current.")
    return 0


def cmd_token_create(args) -> int:
    from .enroll import create_token

    token, expires = create_token(_open(args), args.site, args.unit, ttl_hours=args.ttl_hours,
                                  device_id=args.device)
    if args.json:
        _print({"token": token, "site_id": args.site, "unit_id": args.unit, "device_id": args.device,
                "expires_at": expires})
    else:
        print(token)
        only = f" and device {args.device} only" if args.device else ""
        print(f"One-time token for {args.site}/{args.unit}{only}, valid until {expires}.", file=sys.stderr)
    return 0


def cmd_device_list(args) -> int:
    from .enroll import list_devices

    rows = list_devices(_open(args))
    if args.json:
        _print(rows)
    else:
        for d in rows:
            why = f"  revoked {d['revoked_at']}: {d['revoked_reason']}" if d["revoked_at"] else ""
            print(f"{d['device_id']}  {d['site_id']}/{d['unit_id']}  {d['status']}  via {d['enrolled_via']}  "
                  f"seq {d['highest_seq']}  last push {d['last_push_at']}{why}")
        print(f"{len(rows)} device(s)")
    return 0


def cmd_device_revoke(args) -> int:
    from .enroll import revoke_device

    at = revoke_device(_open(args), args.device_id, args.reason, by=_who())
    print(f"Revoked device {args.device_id} at {at}: its pushes and pulls are refused from now on.")
    return 0


def cmd_keys_export(args) -> int:
    from sync.bundle import write_atomic

    from .keys import load_keys

    keys = load_keys(_open(args)).public()
    write_atomic(args.out, (json.dumps(keys.model_dump(), indent=2) + "\n").encode())
    print(f"Wrote the central's public keys to {args.out}.")
    return 0


def cmd_bundle_import(args) -> int:
    from sync.bundle import BundleError, write_atomic

    from .bundles import import_bundle

    try:
        data = args.file.read_bytes()
    except OSError as err:
        raise BundleError(f"Cannot read {args.file}: {err.strerror}") from None
    if bool(args.register_site) != bool(args.register_unit):
        raise TideoverError("Give both --register-site and --register-unit, or neither.")
    register = (args.register_site, args.register_unit) if args.register_site else None
    receipt = import_bundle(_open(args), data, register=register, by=_who())
    write_atomic(args.receipt, (json.dumps(receipt, indent=1) + "\n").encode())
    counts: dict[str, int] = {}
    for r in receipt["results"]:
        counts[r["result"]] = counts.get(r["result"], 0) + 1
    _print({"bundle_id": receipt["bundle_id"], "device_id": receipt["device_id"], "results": counts,
            "highest_gapless_seq": receipt["highest_gapless_seq"], "refused": receipt["refused"],
            "receipt": str(args.receipt)})
    return EXIT_REFUSED if receipt["refused"] else 0


def cmd_stats(args) -> int:
    from .queries import stats

    st = stats(_open(args))
    if args.json:
        _print(st)
    else:
        for key in ("events", "accepted", "conflict", "quarantine", "conflicts", "devices", "clock_off_devices"):
            print(f"{key:<17} {st[key]}")
        for d in st["per_device"]:
            clock = "" if d["clock_offset_s"] is None else f"  clock {d['clock_offset_s']:+.1f} s"
            print(f"  {d['device_id']}  {d['site_id']}/{d['unit_id']}  seq {d['highest_seq']}  "
                  f"backlog {d['reported_backlog']}  last push {d['last_push_at']}{clock}"
                  f"{'  CLOCK OFF' if d['clock_off'] else ''}")
    return 0


def cmd_verify(args) -> int:
    from .queries import verify

    report = verify(_open(args))
    if args.json:
        _print(report)
    else:
        print(f"{report['devices']} devices, {report['events']} events, {report['checkpoints']} checkpoints checked")
        for p in report["problems"]:
            print(f"BROKEN {p['device_id']} seq {p['device_seq']}: {p['problem']}: {p['detail']}")
        for p in report.get("resolved", []):
            print(f"RESOLVED {p['device_id']} seq {p['device_seq']}: {p['problem']}: {p['detail']}")
        for u in report["untakeable"]:
            if u["withheld"]:
                print(f"withheld {u['event_id']} ({u['device_id']} seq {u['device_seq']}): {u['reason']}")
        if not report["problems"]:
            print("Every chain links, every checkpoint signature verifies and workstations can take every event "
                  "they pull.")
    return EXIT_BROKEN if report["problems"] else 0


def cmd_set_aside_list(args) -> int:
    from .setaside import list_set_aside

    rows = list_set_aside(_open(args))
    if args.json:
        _print(rows)
    else:
        for r in rows:
            print(f"{r['event_id']} ({r['type']}, {r['device_id']} seq {r['device_seq']}) set aside by "
                  f"{r['reported_by']} at {r['reported_at']}: {r['reason']}: {r['detail']}"
                  f"{'  [withheld]' if r['withheld'] else ''}")
        print(f"{len(rows)} report(s)")
    return 0


def cmd_withhold(args) -> int:
    from sync.clock import Clock

    from .setaside import withhold

    done = withhold(_open(args), args.event_id, args.reason, _who(), Clock())
    print(f"Withheld {done['event_id']} ({done['type']}, {done['device_id']} seq {done['device_seq']}) from every "
          f"pull since {done['withheld_at']}, by {done['withheld_by']}: {done['reason']}")
    return 0


def cmd_withheld_list(args) -> int:
    from .setaside import list_withheld

    rows = list_withheld(_open(args))
    if args.json:
        _print(rows)
    else:
        for r in rows:
            print(f"{r['event_id']} ({r['type']}, {r['device_id']} seq {r['device_seq']}) withheld at "
                  f"{r['withheld_at']} by {r['withheld_by']}: {r['reason']}")
        print(f"{len(rows)} withheld")
    return 0


def cmd_conflicts(args) -> int:
    from .queries import list_conflicts

    rows = list_conflicts(_open(args))
    if args.json:
        _print(rows)
    else:
        for r in rows:
            print(f"{r['task_id']} v{r['base_version']} {r['workflow']}: {r['event_id']} ({r['device_id']}) vs "
                  f"{r['other_event_id']} ({r['other_device_id']})")
        print(f"{len(rows)} conflict(s)")
    return 0


def cmd_quarantine(args) -> int:
    from .queries import list_quarantine

    rows = list_quarantine(_open(args))
    if args.json:
        _print(rows)
    else:
        for r in rows:
            print(f"{r['device_id']} seq {r['device_seq']} {r['result']} {r['reason']}: {r['detail']}")
        print(f"{len(rows)} held back")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors are one line with the exit code of their kind (``sync.exit_codes``, the
    table ``tideover`` uses too); anything else is a bug: its traceback, exit code 70."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except TideoverError as err:
        print(f"tideover-central: {err}", file=sys.stderr)
        return exit_code(err)
    except sa.exc.SQLAlchemyError as err:
        print(f"tideover-central: database error: {str(err.orig if hasattr(err, 'orig') else err).splitlines()[0]}",
              file=sys.stderr)
        return EXIT_REFUSED
    except OSError as err:
        print(f"tideover-central: {err.strerror or err} ({getattr(err, 'filename', '') or ''})", file=sys.stderr)
        return EXIT_REFUSED
    except Exception:  # noqa: BLE001 - not a refusal: a bug, shown in full with its own exit code
        traceback.print_exc()
        print(f"tideover-central: this is a bug in Tideover (exit {EXIT_BUG}); nothing was half-written: "
              f"every write is one transaction. Please report the lines above.", file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
