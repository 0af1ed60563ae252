"""Blank downtime paper forms: the lines a printer lays out when even the workstation must go to paper."""

from __future__ import annotations

from typing import TYPE_CHECKING

from forms.compiled import Condition, Field, Form, compile_questionnaire
from forms.questionnaire import load_questionnaire, short_label

if TYPE_CHECKING:
    from forms.overlay import SiteOverlay

_LINE = "_" * 28
_TEXT = "_" * 60


def blank_form_lines(
    workflow: str, overlay: SiteOverlay | None = None, *, repeat_blocks: int = 3
) -> list[tuple[int, str, str]]:
    """(depth, label, hint) for every item of the workflow's form, in order; '*' marks required items.

    A repeating group is printed `repeat_blocks` times (Medication 1, Medication 2, ...).
    """
    form = compile_questionnaire(load_questionnaire(workflow, overlay))
    lines: list[tuple[int, str, str]] = []
    _lines(form, form.fields, 0, repeat_blocks, lines)
    return lines


def _lines(form: Form, fields: tuple[Field, ...], depth: int, blocks: int, out: list) -> None:
    for f in fields:
        label = f.text + (" *" if f.required else "") + _condition(form, f)
        if f.type == "group":
            for i in range(1, blocks + 1) if f.repeats else (None,):
                out.append((depth, label if i is None else f"{f.text} {i}{_condition(form, f)}", ""))
                _lines(form, f.children, depth + 1, blocks, out)
        else:
            out.append((depth, label, _hint(f)))


def _hint(f: Field) -> str:
    if f.options is not None:
        boxes = "  ".join(f"[ ] {d}" for d in f.displays.values())
        return boxes + ("  (tick all that apply)" if f.repeats else "")
    if f.type == "boolean":
        return "[ ] yes  [ ] no"
    if f.type in ("integer", "decimal", "quantity"):
        unit = f" {f.units[0].get('display', f.units[0]['code'])}" if f.units else ""
        bounds = f" ({f.minimum}–{f.maximum})" if f.minimum is not None and f.maximum is not None else ""
        return f"______{unit}{bounds}"
    if f.type == "date":
        return "____-__-__ (year-month-day)"
    if f.type == "dateTime":
        return "____-__-__  __:__ (year-month-day  24h time)"
    if f.type == "time":
        return "__:__ (24h)"
    if f.type == "text":
        return _TEXT
    return _LINE + ("  (one per line)" if f.repeats else "")


def _describe(form: Form, c: Condition) -> str:
    q = form.by_id.get(c.question)
    name = short_label(q.text) if q else c.question
    if c.operator == "exists":
        return f"{name} is {'answered' if c.expected else 'blank'}"
    shown = q.display(c.expected) if q else str(c.expected)
    return {"=": f"{name} is {shown}", "!=": f"{name} is not {shown}"}.get(
        c.operator, f"{name} {c.operator} {shown}"
    )


def _condition(form: Form, f: Field) -> str:
    if not f.conditions:
        return ""
    joiner = " or " if f.enable_any else " and "
    return f" (only if {joiner.join(_describe(form, c) for c in f.conditions)})"
