"""A Questionnaire compiled into plain objects for fast answer checking (no fhir.resources here)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from forms.questionnaire import (
    MAX_QUANTITY_URL,
    MAX_VALUE_URL,
    MIN_QUANTITY_URL,
    MIN_VALUE_URL,
    UNIT_OPTION_URL,
    base_questionnaire,
    extension_value,
    is_locked,
    iter_items,
    option_code,
    option_display,
    short_label,
    workflow_for_canonical,
)

# The value[x] key a QuestionnaireResponse answer uses for each item type (choice depends on its options).
ANSWER_KEYS = {
    "boolean": "valueBoolean",
    "decimal": "valueDecimal",
    "integer": "valueInteger",
    "date": "valueDate",
    "dateTime": "valueDateTime",
    "time": "valueTime",
    "string": "valueString",
    "text": "valueString",
    "quantity": "valueQuantity",
    "choice": "valueCoding",
}


@dataclass(slots=True)
class Condition:
    """One enableWhen, with its expected answer in simple-answer form."""

    question: str
    operator: str
    expected: Any
    question_groups: tuple[str, ...]  # enclosing group linkIds of the question, outermost first


@dataclass(slots=True)
class Field:
    """One Questionnaire item as the validator needs it."""

    link_id: str
    text: str
    label: str  # how messages name it, e.g. "Transport arranged: Owner"
    type: str
    required: bool
    repeats: bool
    locked: bool
    answer_key: str | None
    options: dict[Any, dict[str, Any]] | None  # simple value -> FHIR answer, for items with answerOption
    displays: dict[Any, str] = field(default_factory=dict)
    minimum: float | int | None = None
    maximum: float | int | None = None
    max_length: int | None = None
    units: tuple[dict[str, Any], ...] = ()
    conditions: tuple[Condition, ...] = ()
    enable_any: bool = False
    groups: tuple[str, ...] = ()  # enclosing group linkIds, outermost first
    children: tuple[Field, ...] = ()
    child_by_id: dict[str, Field] = field(default_factory=dict)

    def display(self, value: Any) -> str:
        """What a person reads for a simple answer value of this item."""
        if value in self.displays and not isinstance(value, bool):
            return self.displays[value]
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, dict) and "value" in value:
            return f"{value['value']} {value.get('unit', '')}".strip()
        return str(value)

    @property
    def has_required_descendant(self) -> bool:
        return any(c.required or c.has_required_descendant for c in self.children)


@dataclass(slots=True)
class Form:
    """A compiled Questionnaire: top-level fields plus every field by linkId."""

    url: str
    version: str
    title: str
    workflow: str | None
    fields: tuple[Field, ...]
    by_id: dict[str, Field]
    child_by_id: dict[str, Field]

    @property
    def canonical(self) -> str:
        return f"{self.url}|{self.version}"


def _number(value: Any) -> Any:
    if isinstance(value, dict):  # a Quantity bound
        return value.get("value")
    return value


def expected_answer(ew: dict[str, Any]) -> Any:
    """The value an enableWhen compares with (a Coding's code, a Quantity's value)."""
    for key, value in ew.items():
        if key.startswith("answer"):
            if key == "answerCoding":
                return value["code"]
            if key == "answerQuantity":
                return value.get("value")
            return value
    raise ValueError(f"enableWhen without an answer: {ew!r}")


def compile_questionnaire(q: dict[str, Any]) -> Form:
    """Compile Questionnaire dict `q`; cheap enough to run per call for overlaid questionnaires."""
    texts = Counter(item.get("text", "") for item in iter_items(q))
    groups_of: dict[str, tuple[str, ...]] = {}

    def note_groups(node: dict[str, Any], groups: tuple[str, ...]) -> None:
        for item in node.get("item", ()):
            groups_of[item["linkId"]] = groups
            note_groups(item, groups + (item["linkId"],))

    note_groups(q, ())
    by_id: dict[str, Field] = {}

    def build(item: dict[str, Any], parent_label: str | None) -> Field:
        text = item.get("text", item["linkId"])
        label = short_label(text)
        if parent_label and texts[text] > 1:
            label = f"{parent_label}: {label}"
        type_ = item["type"]
        raw_options = item.get("answerOption")
        options = displays = None
        answer_key = ANSWER_KEYS.get(type_)
        if raw_options:
            options = {
                option_code(o): {k: v for k, v in o.items() if k.startswith("value")} for o in raw_options
            }
            displays = {option_code(o): option_display(o) for o in raw_options}
            answer_key = next(k for k in raw_options[0] if k.startswith("value"))
        conditions = tuple(
            Condition(ew["question"], ew["operator"], expected_answer(ew), groups_of.get(ew["question"], ()))
            for ew in item.get("enableWhen", ())
        )
        minimum = extension_value(item, MIN_VALUE_URL)
        maximum = extension_value(item, MAX_VALUE_URL)
        if minimum is None:
            minimum = _number(extension_value(item, MIN_QUANTITY_URL))
        if maximum is None:
            maximum = _number(extension_value(item, MAX_QUANTITY_URL))
        units = tuple(
            ext["valueCoding"] for ext in item.get("extension", ()) if ext.get("url") == UNIT_OPTION_URL
        )
        children = tuple(build(child, label) for child in item.get("item", ()))
        f = Field(
            link_id=item["linkId"],
            text=text,
            label=label,
            type=type_,
            required=bool(item.get("required", False)),
            repeats=bool(item.get("repeats", False)),
            locked=is_locked(item),
            answer_key=answer_key,
            options=options,
            displays=displays or {},
            minimum=minimum,
            maximum=maximum,
            max_length=item.get("maxLength"),
            units=units,
            conditions=conditions,
            enable_any=item.get("enableBehavior") == "any",
            groups=groups_of[item["linkId"]],
            children=children,
            child_by_id={c.link_id: c for c in children},
        )
        by_id[f.link_id] = f
        return f

    fields = tuple(build(item, None) for item in q.get("item", ()))
    return Form(
        url=q["url"],
        version=str(q.get("version", "")),
        title=q.get("title", q["url"]),
        workflow=workflow_for_canonical(q["url"]),
        fields=fields,
        by_id=by_id,
        child_by_id={f.link_id: f for f in fields},
    )


@cache
def base_form(workflow: str) -> Form:
    """The compiled shipped Questionnaire of `workflow` (compiled once per process)."""
    return compile_questionnaire(base_questionnaire(workflow))
