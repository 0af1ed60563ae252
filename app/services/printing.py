"""What a printout holds: a task with its answers and timeline, and the audit record of printing.

Plain data for the desktop app's print layouts (and any other front end); nothing here draws.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import forms
from app.store.store import Store
from forms.questionnaire import option_code, option_display

from . import tasks as ts

PRINTABLE = ("board", "task", "blank_form")
PRINTS_FOLDER = "prints"


def print_folder(data_dir: Path, user_id: str) -> Path:
    """The signed-in user's own folder for PDF printouts, inside the store's private folder (0700).

    Printouts hold patient data: by default they go where only this workstation's account can
    read them, never to a shared Documents folder.
    """
    folder = Path(data_dir) / PRINTS_FOLDER / user_id
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for made in (folder.parent, folder):
        os.chmod(made, 0o700)  # mkdir's mode is cut by the umask, and an older folder may be wider
    return folder


def private_pdf(path: Path) -> Path:
    """Create (or empty) the PDF file ``path`` readable by this account only (0600), before it is written."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode on O_CREAT: narrow it
    finally:
        os.close(fd)
    return path


def answer_lines(workflow: str, simple: dict, questionnaire: dict | None = None) -> list[tuple[int, str, str]]:
    """(depth, label, answer as a person reads it) for every answered item, in form order."""
    q = questionnaire or forms.load_questionnaire(workflow)
    lines: list[tuple[int, str, str]] = []
    _walk(q.get("item", []), simple, 0, lines)
    return lines


def response_lines(workflow: str, qr: dict) -> list[tuple[int, str, str]]:
    """``answer_lines`` for stored answers (a QuestionnaireResponse): the labels come from the form
    version the answers were made with, not from the response (stored answers carry none)."""
    questionnaire = forms.questionnaire_for_response(qr)
    return answer_lines(workflow, forms.simple_answers(qr, questionnaire), questionnaire)


def _display(item: dict, value: Any) -> str:
    for option in item.get("answerOption", ()):
        code = option_code(option)
        if code == value and isinstance(code, bool) == isinstance(value, bool):
            return option_display(option)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict) and "value" in value:
        return f"{value['value']} {value.get('unit') or ''}".strip()
    return str(value)


def _walk(items: list[dict], values: dict, depth: int, out: list) -> None:
    for item in items:
        if item["linkId"] not in values:
            continue
        value = values[item["linkId"]]
        text = item.get("text", item["linkId"])
        if item["type"] == "group":
            entries = value if isinstance(value, list) else [value]
            for n, entry in enumerate(entries, 1):
                out.append((depth, f"{text} {n}" if item.get("repeats") else text, ""))
                _walk(item.get("item", []), entry or {}, depth + 1, out)
        elif isinstance(value, list):
            out.append((depth, text, "; ".join(_display(item, v) for v in value)))
        else:
            out.append((depth, text, _display(item, value)))


def task_printout(store: Store, task_id: str) -> dict:
    """The task, its patient, answer lines and timeline, for a printout (the view is not recorded)."""
    task = ts.show_task(store, task_id, record_view=False)
    task["answer_lines"] = response_lines(task["workflow"], task["answers"])
    return task


def record_print(store: Store, what: str, count: int, *, target_id: str | None = None,
                 fmt: str | None = None) -> str:
    """Record an ``access.print`` event (what was printed, how many items); returns the event id."""
    if what not in PRINTABLE:
        raise ValueError(f"Unknown printout {what!r}; expected one of {', '.join(PRINTABLE)}")
    return store.record("access.print", {"what": what, "count": int(count), "target_id": target_id,
                                         "format": fmt}).event_id
