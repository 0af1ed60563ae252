"""Commands about the audit trail: verify the chain, export it, review break-glass use."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from app.services import access
from app.services import workstation as ws
from app.services.errors import InputError

from .common import print_json


def register(sub) -> None:
    au = sub.add_parser("audit", help="the audit trail: verify, export, review").add_subparsers(
        dest="audit_cmd", required=True)
    p = au.add_parser("verify", help="re-check every event's hash chain, the signed checkpoint and every role grant",
                      description="Exit 0 with the count of events checked, or 4 naming the first bad event.")
    p.set_defaults(run=cmd_verify)
    p = au.add_parser("export", help="export every event (super-user, admin)")
    p.add_argument("--format", choices=("jsonl",), default="jsonl")
    p.add_argument("--out", type=Path, help="file to write (default: standard output)")
    p.set_defaults(run=cmd_export)
    p = au.add_parser("review", help="break-glass sign-ins and failed unlocks to review")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_review)


def cmd_verify(args, ctx) -> int:
    n = ctx.store().verify()
    print(f"audit verify: {n} events, every chain intact, checkpoint signature valid")
    return 0


def cmd_export(args, ctx) -> int:
    store = ctx.store()
    access.require_supervisor(store)  # before the file is created, so a refusal touches nothing
    if args.out:
        try:
            fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise InputError(f"{args.out} exists already; choose a new file name.") from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            n = ws.export_audit(store, fh)
    else:
        n = ws.export_audit(store, sys.stdout)
    print(f"exported {n} events", file=sys.stderr)
    return 0


def cmd_review(args, ctx) -> int:
    rows = ws.break_glass_review(ctx.store())
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            print(f"{r['at']}  {r['type']:<22} {r['actor']:<30} {r.get('reason') or r.get('user_id') or ''}")
        print(f"{len(rows)} event(s) to review")
    return 0
