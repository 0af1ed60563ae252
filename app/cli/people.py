"""Commands about patients: the census, searching it, temporary patients, linking."""

from __future__ import annotations

from pathlib import Path

from app.services import patients as pt

from .common import print_json


def register(sub) -> None:
    census = sub.add_parser("census", help="the unit's cached census").add_subparsers(dest="census_cmd",
                                                                                       required=True)
    p = census.add_parser("import", help="load a census snapshot (JSON list of patients)")
    p.add_argument("file", type=Path)
    p.set_defaults(run=cmd_census_import)

    pats = sub.add_parser("patients", help="find patients").add_subparsers(dest="patients_cmd", required=True)
    p = pats.add_parser("search", help="search the census and temporary patients")
    p.add_argument("text", nargs="?", default="")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_patients_search)

    pat = sub.add_parser("patient", help="temporary patients and linking").add_subparsers(dest="patient_cmd",
                                                                                          required=True)
    p = pat.add_parser("register-temp", help="register a patient not on the census under a downtime id")
    p.add_argument("--family", required=True)
    p.add_argument("--given", required=True)
    p.add_argument("--birth-date")
    p.add_argument("--sex", choices=("female", "male", "other", "unknown"), default="unknown")
    p.add_argument("--location")
    p.add_argument("--confirm-not-duplicate", action="store_true",
                   help="register even though similar names are on the census")
    p.set_defaults(run=cmd_register_temp)
    p = pat.add_parser("link", help="link a temporary patient to the real record (super-user)")
    p.add_argument("temp_id")
    p.add_argument("patient_id")
    p.add_argument("--reason")
    p.set_defaults(run=cmd_link)


def cmd_census_import(args, ctx) -> int:
    n = pt.load_census_file(ctx.store(), args.file)
    print(f"Loaded {n} patients into the census.")
    return 0


def cmd_patients_search(args, ctx) -> int:
    store = ctx.store()
    rows = pt.view_patient_search(store, args.text)
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            temp = " (temporary)" if r["temporary"] else ""
            print(f"{r['patient_id']:<16} {r['family']}, {r['given']}  {r['birth_date'] or ''}  "
                  f"{r['location'] or ''}{temp}")
    return 0


def cmd_register_temp(args, ctx) -> int:
    pid, similar = pt.register_temp_patient(ctx.store(), args.family, args.given, birth_date=args.birth_date,
                                            sex=args.sex, location=args.location,
                                            confirm_not_duplicate=args.confirm_not_duplicate)
    print_json({"patient_id": pid, "similar_to": [p["patient_id"] for p in similar]})
    return 0


def cmd_link(args, ctx) -> int:
    event_id = pt.link_temp_patient(ctx.store(), args.temp_id, args.patient_id, args.reason)
    print_json({"event_id": event_id, "temp_patient_id": args.temp_id, "patient_id": args.patient_id})
    return 0
