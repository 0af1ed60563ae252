"""Commands that set up and look after a workstation: init, user, status, rebuild, recovery."""

from __future__ import annotations

import os
from pathlib import Path

from app.services import access
from app.services import workstation as ws
from app.services.errors import InputError
from app.store import integrity, users
from app.store.keyring import make_recovery_keypair
from app.store.store import Store
from forms.vocabulary import DEFAULT_MODE, ROLES, WORKSTATION_MODES

from .common import print_json, secret


def register(sub) -> None:
    p = sub.add_parser("init", help="set up this workstation's encrypted store",
                       description="Set up a new encrypted store with its first admin user. The admin's "
                                   "password comes from TIDEOVER_PASSWORD or a prompt. Prints the one-time "
                                   "break-glass code: seal it in the ward's emergency envelope.")
    p.add_argument("--site", required=True, help="site id, e.g. st-marys")
    p.add_argument("--unit", required=True, help="unit (ward) id, e.g. ward-7")
    p.add_argument("--admin", required=True, help="user id of the first admin")
    p.add_argument("--admin-name", help="display name of the first admin")
    p.add_argument("--recovery-public-key", type=Path, help="the site's recovery public key (PEM)")
    p.add_argument("--min-password-length", type=int, default=15)
    p.add_argument("--lockout-limit", type=int, default=10, help="failed unlocks before an account locks (1-100)")
    p.add_argument("--auto-lock-seconds", type=int, default=300)
    p.add_argument("--pull-reserve-mb", type=float, default=500,
                   help="free disk space (MB) a pull leaves for captures; the smaller of this and the percent")
    p.add_argument("--pull-reserve-percent", type=float, default=5,
                   help="free disk space (%% of the disk) a pull leaves for captures")
    p.add_argument("--mode", choices=WORKSTATION_MODES, default=DEFAULT_MODE)
    p.set_defaults(run=cmd_init)

    user = sub.add_parser("user", help="local users: add, unlock, list").add_subparsers(dest="user_cmd",
                                                                                       required=True)
    p = user.add_parser("add", help="add a local user (admin only)",
                        description="Add a local user. The new password comes from TIDEOVER_NEW_PASSWORD "
                                    "or a prompt.")
    p.add_argument("name", help="the new user's id")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--display-name")
    p.set_defaults(run=cmd_user_add)
    p = user.add_parser("role", help="give a user another role (admin only; signed with your own key)")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=ROLES)
    p.set_defaults(run=cmd_user_role)
    p = user.add_parser("unlock", help="unlock an account locked by failed unlocks (admin only)")
    p.add_argument("name")
    p.set_defaults(run=cmd_user_unlock)
    p = user.add_parser("list", help="list local users")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_user_list)

    p = sub.add_parser("status", help="events, pending sync, mode, site, unit, device")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_status)

    p = sub.add_parser("rebuild", help="rebuild projections from the event log and compare digests")
    p.set_defaults(run=cmd_rebuild)

    rec = sub.add_parser("recovery", help="the site recovery key (IT)").add_subparsers(dest="rec_cmd",
                                                                                       required=True)
    p = rec.add_parser("keygen", help="make a site recovery key pair",
                       description="Writes recovery-private.pem (encrypted with TIDEOVER_RECOVERY_PASSPHRASE "
                                   "if set) and recovery-public.pem into --out.")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(run=cmd_recovery_keygen)
    p = sub.add_parser("recover", help="open a workstation with the site recovery key and add a new admin",
                       description="The new admin's password comes from TIDEOVER_NEW_PASSWORD or a prompt; "
                                   "the key's passphrase from TIDEOVER_RECOVERY_PASSPHRASE.")
    p.add_argument("--recovery-key", type=Path, required=True)
    p.add_argument("--new-admin", required=True)
    p.add_argument("--new-admin-name")
    p.set_defaults(run=cmd_recover)


def cmd_init(args, ctx) -> int:
    admin = args.admin
    if args.pull_reserve_mb < 0 or not 0 <= args.pull_reserve_percent <= 100:
        raise InputError("The pull reserve is at least 0 MB and between 0 and 100 percent of the disk.")
    password = secret("TIDEOVER_PASSWORD", f"New password for {admin}: ")
    settings = {"min_password_length": args.min_password_length, "lockout_limit": args.lockout_limit,
                "auto_lock_seconds": args.auto_lock_seconds, "mode": args.mode,
                "pull_reserve_mb": args.pull_reserve_mb, "pull_reserve_percent": args.pull_reserve_percent}
    store, code = ws.init_workstation(ctx.data_dir, site_id=args.site, unit_id=args.unit, admin_id=admin,
                                      admin_name=args.admin_name, password=password,
                                      recovery_public_key=args.recovery_public_key, settings=settings)
    ctx.adopt(store)
    print(f"Workstation set up for site {args.site}, unit {args.unit} in {ctx.data_dir}")
    print(f"Device id: {store.device_id}")
    print(f"Break-glass code (shown once; seal it in the ward's emergency envelope): {code}")
    return 0


def cmd_user_add(args, ctx) -> int:
    store = ctx.store()
    password = secret("TIDEOVER_NEW_PASSWORD", f"New password for {args.name}: ")
    ws.add_user(store, args.name, args.role, password, args.display_name)
    print(f"Added {args.role.replace('_', ' ')} {args.name}.")
    return 0


def cmd_user_role(args, ctx) -> int:
    users.change_role(ctx.store(), args.name, args.role)
    print(f"{args.name} is now {args.role.replace('_', ' ')}.")
    return 0


def cmd_user_unlock(args, ctx) -> int:
    users.unlock_account(ctx.store(), args.name)
    print(f"Unlocked {args.name}.")
    return 0


def cmd_user_list(args, ctx) -> int:
    users = ws.list_users(ctx.store())
    if args.json:
        print_json(users)
    else:
        for u in users:
            print(f"{u['user_id']:<20} {u['role']:<17} {'active' if u['active'] else 'inactive':<9} "
                  f"{u['display_name']}")
    return 0


def cmd_status(args, ctx) -> int:
    st = ws.status(ctx.store())
    if args.json:
        print_json(st)
    else:
        for k, v in st.items():
            if k != "warnings":
                print(f"{k:<15} {v}")
        for warning in st["warnings"]:
            print(f"WARNING: {warning}")
    return 0


def cmd_rebuild(args, ctx) -> int:
    store = ctx.store()
    access.require_supervisor(store)
    before, after, count = integrity.rebuild_projections(store)
    print(f"before {before}")
    print(f"after  {after}")
    print(f"{count} events applied; projections {'match' if before == after else 'DIFFER'}")
    return 0 if before == after else 4


def cmd_recovery_keygen(args, ctx) -> int:
    passphrase = os.environ.get("TIDEOVER_RECOVERY_PASSPHRASE")
    priv, pub = make_recovery_keypair(passphrase.encode() if passphrase else None)
    args.out.mkdir(parents=True, exist_ok=True)
    priv_path, pub_path = args.out / "recovery-private.pem", args.out / "recovery-public.pem"
    if priv_path.exists():
        raise InputError(f"{priv_path} exists already; refusing to overwrite a recovery key.")
    fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(priv)
    pub_path.write_bytes(pub)
    print(f"Wrote {priv_path} (keep it offline, in IT's safe) and {pub_path} (give it to `tideover init`).")
    return 0


def cmd_recover(args, ctx) -> int:
    passphrase = os.environ.get("TIDEOVER_RECOVERY_PASSPHRASE")
    try:
        pem = args.recovery_key.read_bytes()
    except OSError as err:
        raise InputError(f"Cannot read {args.recovery_key}: {err.strerror}") from None
    password = secret("TIDEOVER_NEW_PASSWORD", f"New password for {args.new_admin}: ")
    store = Store.recover(ctx.data_dir, pem, passphrase.encode() if passphrase else None, args.new_admin,
                          args.new_admin_name or args.new_admin, password)
    ctx.adopt(store)
    print(f"Recovered; {args.new_admin} is now an admin of this workstation.")
    return 0
