"""Commands that capture and move tasks, and show the unit's board."""

from __future__ import annotations

from pathlib import Path

import forms
from app.services import tasks as ts
from app.services.errors import InputError
from forms.vocabulary import PRESSING_PRIORITIES, PRIORITIES, STATUSES, WORKFLOW_TITLES, WORKFLOWS

from .common import print_json, read_json_file


def register(sub) -> None:
    p = sub.add_parser("capture", help="capture a task in one of the five workflows",
                       description="Validate the answers against the workflow's form and record the task. "
                                   "Prints {\"task_id\": ..., \"event_id\": ...}.")
    p.add_argument("--workflow", required=True, choices=WORKFLOWS)
    p.add_argument("--patient", required=True, help="patient id from the census or a downtime id")
    p.add_argument("--answers", required=True, type=Path, help="JSON answers (see `tideover forms example`)")
    p.add_argument("--priority", choices=PRIORITIES)
    p.add_argument("--destination", help="queue or role the work goes to next (default: the site's routing)")
    p.add_argument("--occurred-at", help="clinical time if not now (back-entry), ISO 8601")
    p.add_argument("--reason", help="why the entry is back-dated (required with --occurred-at)")
    p.add_argument("--paper", action="store_true", help="this entry copies a paper downtime form")
    p.set_defaults(run=cmd_capture)

    task = sub.add_parser("task", help="one task: transition, show, note").add_subparsers(dest="task_cmd",
                                                                                          required=True)
    p = task.add_parser("transition", help="move a task to another status (FHIR Task states)")
    p.add_argument("task_id")
    p.add_argument("--to", required=True, choices=STATUSES, dest="to_status")
    p.add_argument("--destination")
    p.add_argument("--reason")
    p.add_argument("--priority", choices=PRIORITIES)
    p.set_defaults(run=cmd_transition)
    p = task.add_parser("show", help="a task with its answers and timeline")
    p.add_argument("task_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_show)
    p = task.add_parser("note", help="add a note to a task")
    p.add_argument("task_id")
    p.add_argument("text")
    p.set_defaults(run=cmd_note)

    tl = sub.add_parser("tasks", help="lists of tasks").add_subparsers(dest="tasks_cmd", required=True)
    p = tl.add_parser("list", help="list tasks, filtered")
    p.add_argument("--json", action="store_true")
    p.add_argument("--workflow", choices=WORKFLOWS)
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--destination")
    p.add_argument("--priority", choices=PRIORITIES)
    p.add_argument("--open", action="store_true", help="only tasks not yet finished")
    p.set_defaults(run=cmd_list)

    p = sub.add_parser("board", help="print the unit's board of open tasks")
    p.set_defaults(run=cmd_board)

    fm = sub.add_parser("forms", help="the workflow forms").add_subparsers(dest="forms_cmd", required=True)
    p = fm.add_parser("list", help="the five workflows and their forms")
    p.set_defaults(run=cmd_forms_list)
    p = fm.add_parser("example", help="print an example answers file for a workflow")
    p.add_argument("workflow", choices=WORKFLOWS)
    p.set_defaults(run=cmd_forms_example)


def cmd_capture(args, ctx) -> int:
    answers = read_json_file(args.answers, "answers")
    if not isinstance(answers, dict):
        raise InputError(f"{args.answers} must hold a JSON object of answers.")
    res = ts.capture_task(ctx.store(), args.workflow, args.patient, answers, priority=args.priority,
                          destination=args.destination, occurred_at=args.occurred_at,
                          back_entry_reason=args.reason, paper_form=args.paper)
    print_json({"task_id": res.task_id, "event_id": res.event_id, "destination": res.destination,
                "priority": res.priority})
    return 0


def cmd_transition(args, ctx) -> int:
    event_id = ts.transition_task(ctx.store(), args.task_id, args.to_status, destination=args.destination,
                                  reason=args.reason, priority=args.priority)
    print_json({"task_id": args.task_id, "event_id": event_id, "status": args.to_status})
    return 0


def cmd_show(args, ctx) -> int:
    task = ts.show_task(ctx.store(), args.task_id)
    if args.json:
        print_json(task)
        return 0
    p = task["patient"] or {}
    print(f"{WORKFLOW_TITLES[task['workflow']]}  {task['task_id']}")
    print(f"Patient: {p.get('family', '?')}, {p.get('given', '?')} ({task['patient_id']})")
    print(f"Status: {task['status']}   Priority: {task['priority']}   Destination: {task['destination']}")
    print(f"Summary: {task['summary']}")
    print("Timeline:")
    for e in task["timeline"]:
        move = f"{e.get('from_status') or ''} -> {e.get('to_status')}" if e.get("to_status") else e["type"]
        print(f"  {e['occurred_at']}  {e['actor']:<20} {move:<28} {e['source']} -> "
              f"{e['destination'] or '-'}  corr {e['correlation_id']}  {e.get('detail') or ''}")
    return 0


def cmd_note(args, ctx) -> int:
    print_json({"task_id": args.task_id, "event_id": ts.add_note(ctx.store(), args.task_id, args.text)})
    return 0


def cmd_list(args, ctx) -> int:
    store = ctx.store()
    rows = ts.view_task_list(store, workflow=args.workflow, status=args.status, destination=args.destination,
                             priority=args.priority, open_only=args.open)
    if args.json:
        print_json(rows)
    else:
        print_board(rows)
    return 0


def cmd_board(args, ctx) -> int:
    store = ctx.store()
    rows = ts.view_board(store, open_only=True)
    print_board(rows)
    return 0


def print_board(rows: list[dict]) -> None:
    print(f"{'PRIORITY':<8} {'WORKFLOW':<26} {'STATUS':<12} {'DESTINATION':<16} {'PATIENT':<26} SUMMARY")
    for r in rows:
        name = f"{r['family'] or '?'}, {r['given'] or '?'}"
        flag = "!" if r["priority"] in PRESSING_PRIORITIES else " "
        print(f"{flag}{r['priority']:<7} {WORKFLOW_TITLES[r['workflow']]:<26} {r['status']:<12} "
              f"{r['destination'] or '-':<16} {name[:26]:<26} {r['summary']}")
    print(f"{len(rows)} task(s)")


def cmd_forms_list(args, ctx) -> int:
    for w in WORKFLOWS:
        q = forms.load_questionnaire(w)
        print(f"{w:<22} {WORKFLOW_TITLES[w]:<28} {q['url']}|{q['version']}")
    return 0


def cmd_forms_example(args, ctx) -> int:
    path = Path(forms.__file__).parent / "examples" / f"{args.workflow}.json"
    print(path.read_text(encoding="utf-8").rstrip())
    return 0
