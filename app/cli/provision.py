"""IT's commands for a signed site profile: ``provision`` (a new workstation in one step) and
``profile apply`` / ``profile show`` (a newer profile for a provisioned one)."""

from __future__ import annotations

from pathlib import Path

from app.services import profiles
from app.services.provisioning import provision
from forms.vocabulary import DEFAULT_MODE, WORKSTATION_MODES
from sync.clock import utc_now

from .common import print_json, secret


def register(sub) -> None:
    p = sub.add_parser(
        "provision", help="set up, configure and enroll this workstation from a signed site profile (IT)",
        description="Checks the signed site profile, then sets up the encrypted store for its site and unit "
                    "with the first admin (password from TIDEOVER_PASSWORD or a prompt), the recovery wrap, "
                    "the profile's settings, and enrolls with the central it pins. On any error nothing "
                    "is left behind. Prints the one-time break-glass code.")
    p.add_argument("--profile", type=Path, required=True, metavar="SIGNED", help="the signed site profile")
    p.add_argument("--token", required=True, help="the one-time enrollment token (tideover-central "
                                                  "enroll-token create)")
    p.add_argument("--admin", required=True, metavar="NAME", help="user id of the first admin")
    p.add_argument("--admin-name", help="display name of the first admin")
    p.add_argument("--profile-key", type=Path, metavar="PUB",
                   help="the site profile public key (source installs; a signed bundle has it built in)")
    p.add_argument("--mode", choices=WORKSTATION_MODES, default=DEFAULT_MODE)
    p.set_defaults(run=cmd_provision)

    prof = sub.add_parser("profile", help="the site profile in use (IT)").add_subparsers(dest="profile_cmd",
                                                                                       required=True)
    p = prof.add_parser("apply", help="take a newer signed site profile into use (admin; audited)")
    p.add_argument("file", type=Path, metavar="SIGNED")
    p.add_argument("--profile-key", type=Path, metavar="PUB",
                   help="only before a first profile; afterwards the key pinned at provisioning is used")
    p.set_defaults(run=cmd_profile_apply)
    p = prof.add_parser("show", help="the site profile in use")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_profile_show)


def cmd_provision(args, ctx) -> int:
    key = profiles.profile_key(args.profile_key)
    data = profiles.read_profile_file(args.profile)
    profiles.check_profile(data, key, utc_now())  # a bad profile is refused before any prompt
    password = secret("TIDEOVER_PASSWORD", f"New password for {args.admin}: ")
    done = provision(ctx.data_dir, data, key, args.token, args.admin, password, admin_name=args.admin_name,
                     mode=args.mode)
    ctx.adopt(done.store)
    store = done.store
    print(f"Workstation provisioned for site {store.site_id}, unit {store.unit_id} in {ctx.data_dir}")
    print(f"Device id: {store.device_id}; enrolled with {done.enrolled['central']}")
    if done.enrolled.get("plain_http_warning"):
        print(f"WARNING: {done.enrolled['plain_http_warning']}")
    print(f"Break-glass code (shown once; seal it in the ward's emergency envelope): {done.break_glass_code}")
    return 0


def cmd_profile_apply(args, ctx) -> int:
    key = profiles.load_public_key(args.profile_key) if args.profile_key else None
    store = ctx.store()
    profile = profiles.apply_profile(store, profiles.read_profile_file(args.file), key)
    print(f"Site profile serial {profile.serial} is in use (site {profile.site_id}, unit {profile.unit_id}).")
    return 0


def cmd_profile_show(args, ctx) -> int:
    shown = profiles.describe(profiles.current_profile(ctx.store()))
    if args.json:
        print_json(shown)
    elif shown.get("profile", 1) is None:
        print("No site profile: this workstation was set up with `tideover init`.")
    else:
        for k, v in shown.items():
            print(f"{k:<20} {', '.join(v) if isinstance(v, list) else v}")
    return 0
