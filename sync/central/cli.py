"""The ``tideover-central`` command: serve the API and look after the central event store.

Every command takes ``--db URL`` (a SQLite file path, ``sqlite:///...`` or ``postgresql://...``;
env TIDEOVER_CENTRAL_DB) and brings the schema to the newest migration first.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import sqlalchemy as sa

from sync.errors import TideoverError

from .db import DEFAULT_DB, ENV_DB, CentralDB, redacted

EXIT_REFUSED, EXIT_BROKEN = 1, 4


def _db_option(p: argparse.ArgumentParser, default=argparse.SUPPRESS) -> None:
    p.add_argument("--db", default=default, metavar="URL",
                   help=f"database: a SQLite file, sqlite:///PATH or postgresql://USER@HOST/DB "
                        f"(env {ENV_DB}; default ./{DEFAULT_DB})")


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
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_token_create)

    keys = sub.add_parser("keys", help="the central's public keys").add_subparsers(dest="keys", required=True)
    p = keys.add_parser("export", help="write the public keys a never-enrolled workstation needs for bundles")
    _db_option(p)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(run=cmd_keys_export)

    bundle = sub.add_parser("bundle", help="air-gap bundles").add_subparsers(dest="bundle", required=True)
    p = bundle.add_parser("import", help="ingest a workstation's bundle and write a signed receipt")
    _db_option(p)
    p.add_argument("file", type=Path)
    p.add_argument("--receipt", type=Path, required=True, help="where to write the receipt")
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

    quar = sub.add_parser("quarantine", help="held-back events").add_subparsers(dest="quar", required=True)
    p = quar.add_parser("list", help="events quarantined or rejected, with the reason (no bodies)")
    _db_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_quarantine)
    return parser


def _open(args) -> CentralDB:
    db = CentralDB(args.db)
    db.migrate()
    return db


def _print(obj) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))


def cmd_serve(args) -> int:
    import os

    import uvicorn

    if bool(args.tls_cert) != bool(args.tls_key):
        raise TideoverError("Give both --tls-cert and --tls-key, or neither.")
    db = _open(args)
    scheme = "https" if args.tls_cert else "http"
    print(f"tideover-central: serving {redacted(db.url)} on {scheme}://{args.host}:{args.port} "
          f"({args.workers} worker{'s' if args.workers > 1 else ''})", file=sys.stderr)
    # Workers are separate processes sharing nothing but the database (like separate servers), so
    # each builds its app from the environment.
    os.environ[ENV_DB] = db.url
    os.environ["TIDEOVER_CENTRAL_MAX_BODY"] = str(int(args.max_body_mb * 1024 * 1024))
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

    token, expires = create_token(_open(args), args.site, args.unit, ttl_hours=args.ttl_hours)
    if args.json:
        _print({"token": token, "site_id": args.site, "unit_id": args.unit, "expires_at": expires})
    else:
        print(token)
        print(f"One-time token for {args.site}/{args.unit}, valid until {expires}.", file=sys.stderr)
    return 0


def cmd_keys_export(args) -> int:
    from sync.bundle import write_atomic

    from .enroll import load_keys

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
    receipt = import_bundle(_open(args), data)
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
        for key in ("events", "accepted", "conflict", "quarantine", "conflicts", "devices"):
            print(f"{key:<12} {st[key]}")
        for d in st["per_device"]:
            print(f"  {d['device_id']}  {d['site_id']}/{d['unit_id']}  seq {d['highest_seq']}  "
                  f"backlog {d['reported_backlog']}  last push {d['last_push_at']}")
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
        if not report["problems"]:
            print("Every chain links and every checkpoint signature verifies.")
    return EXIT_BROKEN if report["problems"] else 0


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
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except TideoverError as err:
        print(f"tideover-central: {err}", file=sys.stderr)
        return EXIT_REFUSED
    except sa.exc.SQLAlchemyError as err:
        print(f"tideover-central: database error: {str(err.orig if hasattr(err, 'orig') else err).splitlines()[0]}",
              file=sys.stderr)
        return EXIT_REFUSED
    except OSError as err:
        print(f"tideover-central: {err.strerror or err} ({getattr(err, 'filename', '') or ''})", file=sys.stderr)
        return EXIT_REFUSED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
