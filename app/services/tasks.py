"""Capturing and moving workflow tasks: the use cases a nurse performs at the workstation.

Every function takes an unlocked ``Store``; every change is one event recorded in one transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import forms
from app.store import eventlog, read_models
from app.store.errors import NotFound, StoreError
from app.store.store import Store
from forms.vocabulary import DEFAULT_PRIORITY, WORKFLOWS, needs_reason
from sync.events import new_id
from sync.taskorder import in_fold_order
from sync.taskstate import INITIAL_STATUS, check_priority, check_transition, higher_priority

from . import access
from .errors import InputError
from .profiles import site_overlay
from .times import parse_clinical_time


@dataclass(frozen=True)
class Captured:
    task_id: str
    event_id: str
    destination: str | None
    priority: str


def capture_task(store: Store, workflow: str, patient_id: str, answers: dict, *, priority: str | None = None,
                 destination: str | None = None, occurred_at: str | None = None,
                 back_entry_reason: str | None = None, paper_form: bool = False,
                 overlay: forms.SiteOverlay | None = None) -> Captured:
    """Validate the answers against the workflow's form, then record ``task.created``.

    Raises forms.FormError listing every problem, InputError for a bad workflow, patient or time.
    The task is durable when this returns.
    """
    if workflow not in WORKFLOWS:
        raise InputError(f"Unknown workflow '{workflow}'; use one of: {', '.join(WORKFLOWS)}.")
    overlay = overlay if overlay is not None else site_overlay(store)  # the site profile's, if any
    if overlay is not None and not overlay.is_on(workflow):
        raise InputError(f"The workflow '{workflow}' is not switched on at this site.")
    patient = _patient(store, patient_id)
    questionnaire = forms.load_questionnaire(workflow, overlay) if overlay else None
    response = forms.validate_answers(workflow, answers, questionnaire)
    simple = forms.simple_answers(response)  # once: routing, escalation and summary all read it
    escalated = forms.escalated_priority(workflow, simple)
    chosen = check_priority(priority or DEFAULT_PRIORITY)
    if escalated:
        chosen = higher_priority(chosen, escalated)
    route = destination or forms.route_destination(workflow, simple, overlay)
    when = None
    if occurred_at:
        when = parse_clinical_time(occurred_at, store.clock.now())
        if not (back_entry_reason or "").strip():
            raise InputError("A back-dated entry needs a reason (for example: 'entered from paper form').")
    task_id = new_id()
    event = store.record(
        "task.created",
        {"patient_id": patient["patient_id"], "status": INITIAL_STATUS, "priority": chosen,
         "answers": response, "summary": forms.summarize(workflow, simple, questionnaire=questionnaire),
         "back_entry_reason": (back_entry_reason or "").strip() or None, "paper_form": paper_form},
        workflow=workflow, task_id=task_id, base_version=0, destination=route, occurred_at=when,
        correlation_id=task_id)
    return Captured(task_id, event.event_id, route, chosen)


def transition_task(store: Store, task_id: str, to_status: str, *, destination: str | None = None,
                    reason: str | None = None, priority: str | None = None) -> str:
    """Move a task to ``to_status`` if the FHIR Task state machine allows it; returns the event id."""
    task = get_task(store, task_id)
    check_transition(task["status"], to_status)
    if priority:
        check_priority(priority)
    if needs_reason(to_status) and not (reason or "").strip():
        raise InputError(f"Marking a task {to_status} needs a reason.")
    event = store.record(
        "task.transitioned",
        {"from_status": task["status"], "to_status": to_status, "reason": reason, "priority": priority},
        workflow=task["workflow"], task_id=task_id, base_version=task["version"],
        destination=destination, correlation_id=task["correlation_id"],
        causation_id=task["last_event_id"])
    return event.event_id


def update_answers(store: Store, task_id: str, answers: dict, *, reason: str | None = None,
                   overlay: forms.SiteOverlay | None = None) -> str:
    """Record an amendment of a task's form answers (validated again); returns the event id."""
    task = get_task(store, task_id)
    overlay = overlay if overlay is not None else site_overlay(store)
    questionnaire = forms.load_questionnaire(task["workflow"], overlay) if overlay else None
    response = forms.validate_answers(task["workflow"], answers, questionnaire)
    event = store.record(
        "task.answers_updated",
        {"answers": response, "summary": forms.summarize(task["workflow"], response),
         "reason": reason},
        workflow=task["workflow"], task_id=task_id, base_version=task["version"],
        correlation_id=task["correlation_id"], causation_id=task["last_event_id"])
    return event.event_id


def add_note(store: Store, task_id: str, text: str) -> str:
    task = get_task(store, task_id)
    if not text.strip():
        raise InputError("A note cannot be empty.")
    event = store.record("task.note_added", {"text": text.strip()}, workflow=task["workflow"],
                         task_id=task_id, base_version=task["version"],
                         correlation_id=task["correlation_id"], causation_id=task["last_event_id"])
    return event.event_id


def get_task(store: Store, task_id: str) -> dict:
    task = read_models.task(store, task_id)
    if task is None:
        raise NotFound(f"No task {task_id} on this workstation.")
    return task


def list_tasks(store: Store, *, workflow: str | None = None, status: str | None = None,
               destination: str | None = None, priority: str | None = None, open_only: bool = False,
               limit: int | None = None) -> list[dict]:
    """Tasks with their patient's name, newest first, filtered as asked."""
    return read_models.task_list(store, workflow=workflow, status=status, destination=destination,
                                 priority=priority, open_only=open_only, limit=limit)


def show_task(store: Store, task_id: str, *, record_view: bool = True) -> dict:
    """The task, its patient, its answers and its full timeline; the view itself is recorded."""
    task = get_task(store, task_id)
    task["answers"] = current_answers(store, task)
    task["patient"] = read_models.patient(store, task["patient_id"])
    task["timeline"] = timeline(store, task_id)
    if record_view:
        access.record_view(store, access.VIEW_TASK, target_id=task_id)
    return task


def view_board(store: Store, *, open_only: bool = False) -> list[dict]:
    """The unit's board as a person sees it (CLI or app); the view is recorded with its row count."""
    rows = list_tasks(store, open_only=open_only)
    access.record_view(store, access.VIEW_BOARD, count=len(rows))
    return rows


def view_task_list(store: Store, **filters) -> list[dict]:
    """``list_tasks`` for a person's eyes: the view is recorded with its row count."""
    rows = list_tasks(store, **filters)
    access.record_view(store, access.VIEW_TASK_LIST, count=len(rows))
    return rows


def current_answers(store: Store, task: dict) -> dict:
    """The task's form answers (a QuestionnaireResponse) as last recorded."""
    body = eventlog.body_of(store, task["answers_event_id"])
    return json.loads(body)["payload"]["answers"] if body else {}


def timeline(store: Store, task_id: str) -> list[dict]:
    """Every event of a task in fold order: time, actor, source, destination, correlation id."""
    entries = []
    bodies = in_fold_order(json.loads(body) for body in eventlog.task_bodies(store, task_id))
    for b in bodies:
        p = b["payload"]
        entry = {"event_id": b["event_id"], "type": b["type"], "occurred_at": b["occurred_at"],
                 "recorded_at": b["recorded_at"], "hlc": b["hlc"], "actor": b["actor"]["display_name"],
                 "actor_id": b["actor"]["user_id"], "role": b["actor"]["role"], "source": b["source"],
                 "destination": b.get("destination"), "correlation_id": b["correlation_id"],
                 "device_id": b["device_id"], "device_seq": b["device_seq"], "mode": b["mode"]}
        if b["type"] == "task.created":
            entry["to_status"] = p.get("status")
            entry["detail"] = p.get("back_entry_reason") or ""
        elif b["type"] == "task.transitioned":
            entry["from_status"], entry["to_status"] = p["from_status"], p["to_status"]
            entry["detail"] = p.get("reason") or ""
        elif b["type"] == "task.note_added":
            entry["detail"] = p["text"]
        elif b["type"] == "task.answers_updated":
            entry["detail"] = p.get("reason") or "answers amended"
        entries.append(entry)
    return entries


def _patient(store: Store, patient_id: str) -> dict:
    found = read_models.patient(store, patient_id)
    if found is None:
        raise InputError(f"Patient {patient_id} is not on this unit's census; find them with "
                         f"`tideover patients search` or register a temporary patient.")
    return found


__all__ = ["Captured", "capture_task", "transition_task", "update_answers", "add_note", "get_task",
           "list_tasks", "show_task", "timeline", "StoreError"]
