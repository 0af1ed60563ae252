"""Commands that connect a workstation to the central: enroll, sync, and air-gap bundles."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from app.services import access, bundles, chain_recovery, enrollment
from app.services import sync as sync_service
from app.store import setaside

from .common import print_json


def register(sub) -> None:
    p = sub.add_parser("enroll", help="enroll this workstation with the central (admin; IT gives the token)",
                       description="Register this workstation's signing key with the central using a one-time "
                                   "token from `tideover-central enroll-token create`. The central is pinned: "
                                   "its URL, TLS trust and public keys are kept in the encrypted store with "
                                   "the device credential, and the workstation talks to no other central "
                                   "(enroll again to move it).")
    p.add_argument("--central", required=True, metavar="URL", help="the central's URL, e.g. https://central:8470")
    p.add_argument("--token", required=True, help="the one-time enrollment token")
    p.add_argument("--ca-bundle", type=Path, help="PEM CA bundle to trust for the central's TLS certificate")
    p.add_argument("--allow-plain-http", action="store_true",
                   help="allow an http:// central that is not on this machine (closed test networks only; warned)")
    p.set_defaults(run=cmd_enroll)

    p = sub.add_parser("sync", help="push pending events to the central, then pull the unit's events",
                       description="Push every pending event (batches of up to 1,000, retried with backoff), "
                                   "then pull the unit's events from other workstations. Prints a JSON summary.")
    p.add_argument("--central", metavar="URL",
                   help="the central's URL; only the one enrolled with is accepted (the default)")
    p.add_argument("--ca-bundle", type=Path, help="only the CA bundle pinned at enrollment is accepted")
    p.add_argument("--timeout", type=float, default=sync_service.DEFAULT_TIMEOUT, help="seconds per request")
    p.add_argument("--attempts", type=int, default=6, help="tries per request before giving up for now")
    p.add_argument("--batch-size", type=int, default=1000)
    p.set_defaults(run=cmd_sync)

    p = sub.add_parser("recover-chain", help="after a restore from backup: take this workstation's events back "
                                             "from the central and keep the forked ones (admin)",
                       description="When `tideover sync` reports a fork (the store was restored from an older "
                                   "copy and made events at seqs the central already holds), take this "
                                   "workstation's own events back from the central, keep the forked events in "
                                   "the log as a recorded fork, re-record their content after the central's "
                                   "head, then sync. Safe to run again. --list shows recorded forks.")
    p.add_argument("--list", action="store_true", help="list recorded forks instead (super-user, admin)")
    p.add_argument("--json", action="store_true", help="with --list: JSON")
    p.add_argument("--reason", help="why, kept in the recorded fork (e.g. the ticket number)")
    p.add_argument("--timeout", type=float, default=sync_service.DEFAULT_TIMEOUT, help="seconds per request")
    p.add_argument("--attempts", type=int, default=6, help="tries per request before giving up for now")
    p.set_defaults(run=cmd_recover_chain)

    aside = sub.add_parser("set-aside", help="pulled events this workstation could not take").add_subparsers(
        dest="set_aside_cmd", required=True)
    p = aside.add_parser("list", help="events from other workstations set aside, with the reason (super-user)",
                         description="Events pulled from the central that this workstation could not take "
                                     "(not valid by the shared rule, or changed after they were made). They are "
                                     "kept in the encrypted store and reported to the central; the sync goes on "
                                     "past them. No patient data is shown.")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_set_aside_list)

    bundle = sub.add_parser("bundle", help="air-gap sync with files").add_subparsers(dest="bundle_cmd",
                                                                                     required=True)
    p = bundle.add_parser("export", help="write the pending events as one encrypted bundle file",
                          description="Only the central can read the bundle. Carry it to the central and "
                                      "import it there with `tideover-central bundle import`.")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--central-key", type=Path,
                   help="the central's key file (`tideover-central keys export`), pinned once by an admin if this "
                        "workstation is not enrolled; never replaces a pinned key")
    p.set_defaults(run=cmd_bundle_export)
    p = bundle.add_parser("import-receipt", help="mark events synced from the central's signed receipt")
    p.add_argument("receipt", type=Path)
    p.add_argument("--central-key", type=Path,
                   help="must be the central key already pinned (receipts verify only against it)")
    p.set_defaults(run=cmd_import_receipt)


def cmd_enroll(args, ctx) -> int:
    done = enrollment.enroll(ctx.store(), args.central, args.token, ca_bundle=args.ca_bundle,
                             allow_plain_http=args.allow_plain_http)
    print(f"Enrolled device {done['device_id']} ({done['site_id']}/{done['unit_id']}) with {done['central']}.")
    if done["plain_http_warning"]:
        print(f"Warning: {done['plain_http_warning']}", file=sys.stderr)
    return 0


def _progress():
    if not sys.stderr.isatty():
        return None

    def show(sent: int, total: int) -> None:
        print(f"\rpushed {sent}/{total}", end="" if sent < total else "\n", file=sys.stderr, flush=True)

    return show


def cmd_sync(args, ctx) -> int:
    store = ctx.store()
    link = sync_service.Link.from_store(store, args.central, str(args.ca_bundle) if args.ca_bundle else None)
    link = dataclasses.replace(link, timeout=args.timeout)
    summary = sync_service.sync(store, link, retry=sync_service.Retry(attempts=max(1, args.attempts)),
                                progress=_progress(), batch_size=args.batch_size)
    print_json(summary)
    if summary.get("pull_stopped"):
        print(summary["message"], file=sys.stderr)
    if summary.get("fork"):
        print(f"tideover: this workstation was restored from an older copy: the central holds "
              f"{summary['fork']['to_take_back']} of its events that it lacks and it made "
              f"{summary['fork']['forked_events']} at the same seqs; they are kept pending. "
              f"An admin runs `tideover recover-chain`.", file=sys.stderr)
    return 1 if summary["refused"] or summary.get("pull_stopped") or summary.get("fork") else 0


def cmd_recover_chain(args, ctx) -> int:
    store = ctx.store()
    if args.list:
        rows = chain_recovery.list_forks(store)
        if args.json:
            print_json(rows)
        else:
            for f in rows:
                print(f"{f['recovered_at']}  fork at seq {f['fork_seq']}  took back {f['taken_back']}  "
                      f"re-recorded {f['forked']}  confirmed by {f['confirmed_by'] or '(automatic)'}")
            print(f"{len(rows)} recorded fork(s)")
        return 0
    link = sync_service.Link.from_store(store)
    link = sync_service.Link(link.url, link.credential, link.ca_bundle, args.timeout)
    report = chain_recovery.recover_chain(store, link, retry=sync_service.Retry(attempts=max(1, args.attempts)),
                                          reason=args.reason, progress=_progress())
    print_json(report)
    return 0 if not report["sync"].get("error") and not report["sync"].get("refused") else 1


def cmd_set_aside_list(args, ctx) -> int:
    store = ctx.store()
    access.require_supervisor(store)
    rows = setaside.listing(store)
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            print(f"{r['event_id']}  {r['type'] or '?'}  from {r['device_id'] or '?'} seq {r['device_seq']}  "
                  f"{r['reason']}: {r['detail']}  ({'reported' if r['reported'] else 'not yet reported'})")
        print(f"{len(rows)} set aside")
    return 0


def cmd_bundle_export(args, ctx) -> int:
    print_json(bundles.export_bundle(ctx.store(), args.out, args.central_key))
    return 0


def cmd_import_receipt(args, ctx) -> int:
    summary = bundles.import_receipt(ctx.store(), args.receipt, args.central_key)
    print_json(summary)
    return 1 if summary["refused"] else 0
