"""Convert one simple answer value to a FHIR answer and back, with a nurse-readable reason on failure."""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time
from typing import Any

from forms.compiled import Field

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
# FHIR dateTime with a time part needs seconds and a zone; clinical times must be unambiguous.
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})\Z")
_TIME = re.compile(r"\d{2}:\d{2}:\d{2}(\.\d{1,9})?\Z")
_QUANTITY_KEYS = frozenset({"value", "unit"})


def is_blank(value: Any) -> bool:
    """True for a value that means 'not answered': None, '', whitespace, [] or {}."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | dict):
        return not value
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _fmt(number: float | int) -> str:
    return f"{number:g}" if isinstance(number, float) else str(number)


def _range_problem(f: Field, number: float | int) -> str | None:
    lo, hi = f.minimum, f.maximum
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        if lo is not None and hi is not None:
            return f"{f.label} must be between {_fmt(lo)} and {_fmt(hi)}"
        if lo is not None:
            return f"{f.label} must be at least {_fmt(lo)}"
        return f"{f.label} must be at most {_fmt(hi)}"  # type: ignore[arg-type]
    return None


def _choice(f: Field, value: Any) -> tuple[dict[str, Any] | None, str | None]:
    assert f.options is not None
    # bool is an int in Python; True must not pick option 1.
    answer = None if isinstance(value, bool | dict | list) else f.options.get(value)
    if answer is None:
        shown = ", ".join(f.displays.values())
        return None, f"{f.label}: {value!r} is not one of the options ({shown})"
    return answer, None


def _quantity(f: Field, value: Any) -> tuple[dict[str, Any] | None, str | None]:
    unit = None
    if isinstance(value, dict):
        if not value.keys() <= _QUANTITY_KEYS or "value" not in value:
            return None, f"{f.label} must be a number, or {{'value': number, 'unit': code}}"
        unit, value = value.get("unit"), value["value"]
    if not _is_number(value):
        return None, f"{f.label} must be a number"
    coding: dict[str, Any] | None = None
    if f.units:
        if unit is None:
            if len(f.units) > 1:
                return None, f"{f.label} needs a unit ({', '.join(u['code'] for u in f.units)})"
            coding = f.units[0]
        else:
            coding = next((u for u in f.units if unit in (u.get("code"), u.get("display"))), None)
            if coding is None:
                return (
                    None,
                    f"{f.label}: unit {unit!r} is not allowed (use {', '.join(u['code'] for u in f.units)})",
                )
    problem = _range_problem(f, value)
    if problem:
        return None, problem
    quantity: dict[str, Any] = {"value": value}
    if coding is not None:
        quantity.update(
            unit=coding.get("display", coding["code"]), system=coding["system"], code=coding["code"]
        )
    elif unit is not None:
        quantity["unit"] = unit
    return {"valueQuantity": quantity}, None


def to_answer(f: Field, value: Any) -> tuple[dict[str, Any] | None, str | None]:
    """The FHIR answer for non-blank simple `value` of question `f`, or (None, message) if it does not fit."""
    if f.options is not None:
        return _choice(f, value)
    t = f.type
    if t == "boolean":
        if isinstance(value, bool):
            return {"valueBoolean": value}, None
        return None, f"{f.label} must be yes or no (true/false)"
    if t == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            return None, f"{f.label} must be a whole number"
        problem = _range_problem(f, value)
        return (None, problem) if problem else ({"valueInteger": value}, None)
    if t == "decimal":
        if not _is_number(value):
            return None, f"{f.label} must be a number"
        problem = _range_problem(f, value)
        return (None, problem) if problem else ({"valueDecimal": value}, None)
    if t in ("string", "text"):
        if not isinstance(value, str):
            return None, f"{f.label} must be text"
        if not value.isascii() and not _encodable(value):
            return None, f"{f.label} contains characters that cannot be stored; please retype it"
        if f.max_length is not None and len(value) > f.max_length:
            return None, f"{f.label} must be at most {f.max_length} characters"
        return {"valueString": value}, None
    if t == "date":
        if isinstance(value, str) and _DATE.match(value) and _parses(date.fromisoformat, value):
            return {"valueDate": value}, None
        return None, f"{f.label} must be a date like 2024-05-01"
    if t == "dateTime":
        if isinstance(value, str) and _DATETIME.match(value) and _parses(datetime.fromisoformat, value):
            return {"valueDateTime": value}, None
        return None, f"{f.label} must be a date and time with its time zone, like 2024-05-01T14:05:00+01:00"
    if t == "time":
        if isinstance(value, str) and _TIME.match(value) and _parses(time.fromisoformat, value):
            return {"valueTime": value}, None
        return None, f"{f.label} must be a time like 14:05:00"
    if t == "quantity":
        return _quantity(f, value)
    return None, f"{f.label} cannot be answered (item type {t!r})"


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, e.g. from a broken paste
        return False
    return True


def _parses(parse: Any, value: str) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


def from_answer(answer: dict[str, Any]) -> tuple[str | None, Any]:
    """(value[x] key, simple value) of one QuestionnaireResponse answer; (None, None) if it has no value."""
    for key, value in answer.items():
        if not key.startswith("value"):
            continue
        if key == "valueCoding":
            return key, value.get("code") if isinstance(value, dict) else value
        if key == "valueQuantity" and isinstance(value, dict):
            simple = {"value": value.get("value")}
            unit = value.get("code") or value.get("unit")
            if unit is not None:
                simple["unit"] = unit
            return key, simple
        return key, value
    return None, None
