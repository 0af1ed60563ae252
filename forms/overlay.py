"""Site overlays: the parts of a form a site may vary (labels, defaults, choice lists, routing, which
workflows are on, default destinations), checked so identity, schema and audit never vary."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, model_validator

from forms.compiled import compile_questionnaire
from forms.errors import OverlayError
from forms.questionnaire import (
    base_questionnaire,
    is_locked,
    items_by_link_id,
    iter_items,
    option_code,
    validate_questionnaire_resource,
)
from forms.routing import BUILTIN_ROUTES
from forms.values import to_answer
from forms.vocabulary import WORKFLOWS

VARIES = "labels, defaults, choices, routing, enabled_workflows and default_destination"
# Questionnaire keys that say what an item *is*; naming one anywhere in an overlay is an attempt to
# change the schema, refused with its own reason rather than a generic "extra field".
_FIXED_KEYS = {
    "required": "whether an item is required cannot vary by site",
    "type": "an item's type cannot vary by site",
    "linkId": "linkIds are the answer keys and cannot vary by site",
    "repeats": "whether an item repeats cannot vary by site",
    "enableWhen": "when an item applies cannot vary by site",
    "enableBehavior": "when an item applies cannot vary by site",
    "answerOption": "replace a choice list with 'choices', not answerOption",
    "item": "items cannot be added or removed by a site",
    "extension": "extensions (including the locked flag) cannot vary by site",
    "locked": "which items are locked cannot vary by site",
}
_QUEUE = r"^[a-z][a-z0-9_]{0,63}$"
_LOCAL_SYSTEMS = "https://tideover.example/"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RoutingCondition(_Strict):
    """The answer that triggers a routing rule: item `linkId` equals `equals`."""

    link_id: str = Field(alias="linkId")
    equals: StrictBool | StrictInt | str


class RoutingRule(_Strict):
    """Send `workflow` forms whose answers match `when` to queue `destination`."""

    workflow: str
    when: RoutingCondition
    destination: str = Field(pattern=_QUEUE)


class ChoiceOption(_Strict):
    """One entry of a replacement choice list."""

    code: str = Field(min_length=1)
    display: str = Field(min_length=1)


class SiteOverlay(_Strict):
    """What one site changes in the forms; every instance has been checked against the questionnaires."""

    labels: dict[str, dict[str, str]] = {}
    defaults: dict[str, dict[str, Any]] = {}
    choices: dict[str, dict[str, list[ChoiceOption]]] = {}
    routing: list[RoutingRule] = []
    enabled_workflows: tuple[str, ...] | None = None  # None: all of WORKFLOWS
    default_destination: dict[str, str] = {}

    def workflows_enabled(self) -> tuple[str, ...]:
        """The workflows this site uses, in WORKFLOWS order."""
        on = WORKFLOWS if self.enabled_workflows is None else self.enabled_workflows
        return tuple(w for w in WORKFLOWS if w in on)

    def is_on(self, workflow: str) -> bool:
        """Whether this site uses ``workflow``: the one "workflow off" rule (forms, capture, the app)."""
        return workflow in self.workflows_enabled()

    def apply_to(self, q: dict, workflow: str, copy: bool = True) -> dict:
        """`q` (the workflow's Questionnaire) with this site's labels, choices and defaults applied."""
        return apply_overlay(q, self, workflow, _copy=copy)

    @model_validator(mode="after")
    def _fits_the_forms(self) -> SiteOverlay:
        _check(self)
        return self


def load_overlay(path: str | Path) -> SiteOverlay:
    """Read and check a site overlay JSON file; raises OverlayError(path, reason) if it may not be used."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise OverlayError(path, f"cannot read the overlay file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise OverlayError(path, "the overlay file is not UTF-8 text") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OverlayError(
            path, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    return parse_overlay(data, source=path)


def parse_overlay(data: Any, source: str | Path = "<site overlay>") -> SiteOverlay:
    """Check an already-parsed overlay (e.g. from a signed site profile); `source` names it in errors."""
    if not isinstance(data, dict):
        raise OverlayError(source, "an overlay must be a JSON object")
    fixed = _fixed_key(data, ())
    if fixed:
        raise OverlayError(source, fixed)
    try:
        return SiteOverlay.model_validate(data)
    except ValidationError as exc:
        raise OverlayError(source, _reason(exc)) from None


def apply_overlay(q: dict, overlay: SiteOverlay, workflow: str, *, _copy: bool = True) -> dict:
    """A copy of Questionnaire `q` with the overlay's labels, choice lists and defaults for `workflow`."""
    out = copy.deepcopy(q) if _copy else q
    items = items_by_link_id(out)
    for link_id, text in overlay.labels.get(workflow, {}).items():
        items[link_id]["text"] = text
    for link_id, options in overlay.choices.get(workflow, {}).items():
        item = items[link_id]
        system = item["answerOption"][0]["valueCoding"].get("system")
        item["answerOption"] = [
            {"valueCoding": {**({"system": system} if system else {}), "code": o.code, "display": o.display}}
            for o in options
        ]
        if "initial" in item:
            by_code = {o["valueCoding"]["code"]: o["valueCoding"] for o in item["answerOption"]}
            item["initial"] = [
                {"valueCoding": dict(by_code[i["valueCoding"]["code"]])} for i in item["initial"]
            ]
    defaults = overlay.defaults.get(workflow, {})
    if defaults:
        fields = compile_questionnaire(out).by_id
        for link_id, value in defaults.items():
            values = value if isinstance(value, list) else [value]
            items[link_id]["initial"] = [to_answer(fields[link_id], v)[0] for v in values]
    return out


# --- checks ----------------------------------------------------------------------------------------


def _fixed_key(node: Any, path: tuple[str, ...]) -> str | None:
    if isinstance(node, list):
        for i, x in enumerate(node):
            found = _fixed_key(x, path + (str(i),))
            if found:
                return found
    elif isinstance(node, dict):
        for key, value in node.items():
            # labels/defaults/choices.<workflow>.<linkId>: the key is a linkId; routing[].when has "linkId"
            is_link_key = len(path) == 2 and path[0] in ("labels", "defaults", "choices")
            is_when = len(path) == 3 and path[0] == "routing" and path[2] == "when"
            if key in _FIXED_KEYS and not is_link_key and not is_when:
                return f"{'.'.join(path + (key,))}: {_FIXED_KEYS[key]} (a site may change only {VARIES})"
            found = _fixed_key(value, path + (str(key),))
            if found:
                return found
    return None


def _reason(exc: ValidationError) -> str:
    reasons = []
    for err in exc.errors():
        if err["type"] == "value_error":
            reasons.append(str(err["ctx"]["error"]))
            continue
        where = ".".join(str(x) for x in err["loc"])
        if err["type"] == "extra_forbidden":
            reasons.append(f"{where}: cannot vary by site (a site may change only {VARIES})")
        else:
            reasons.append(f"{where}: {err['msg']}")
    return "; ".join(reasons)


def _check_workflows(overlay: SiteOverlay) -> None:
    named = [("labels", w) for w in overlay.labels] + [("defaults", w) for w in overlay.defaults]
    named += [("choices", w) for w in overlay.choices] + [
        ("default_destination", w) for w in overlay.default_destination
    ]
    named += [(f"routing[{i}]", r.workflow) for i, r in enumerate(overlay.routing)]
    named += [("enabled_workflows", w) for w in overlay.enabled_workflows or ()]
    for where, workflow in named:
        if workflow not in WORKFLOWS:
            raise ValueError(
                f"{where}: unknown workflow {workflow!r} (expected one of: {', '.join(WORKFLOWS)})"
            )
    if overlay.enabled_workflows is not None:
        if not overlay.enabled_workflows:
            raise ValueError("enabled_workflows: a site must keep at least one workflow on")
        if len(set(overlay.enabled_workflows)) != len(overlay.enabled_workflows):
            raise ValueError("enabled_workflows: a workflow is listed twice")
    for workflow, queue in overlay.default_destination.items():
        if not re.match(_QUEUE, queue):
            raise ValueError(
                f"default_destination.{workflow}: {queue!r} is not a queue name (lower_snake_case)"
            )


def _item(items: dict[str, dict], where: str, link_id: str, workflow: str, changeable: bool = True) -> dict:
    item = items.get(link_id)
    if item is None:
        raise ValueError(f"{where}: unknown linkId {link_id!r} in {workflow}")
    if changeable and is_locked(item):
        raise ValueError(
            f"{where}: {link_id!r} is locked (patient identity, schema or audit) and cannot vary by site"
        )
    return item


def _codes_to_keep(q: dict, overlay: SiteOverlay, workflow: str, link_id: str) -> set[Any]:
    keep: set[Any] = set()
    for item in iter_items(q):
        for ew in item.get("enableWhen", ()):
            if ew["question"] == link_id and "answerCoding" in ew:
                keep.add(ew["answerCoding"]["code"])
    keep |= {r.equals for r in BUILTIN_ROUTES if r.workflow == workflow and r.link_id == link_id}
    keep |= {r.when.equals for r in overlay.routing if r.workflow == workflow and r.when.link_id == link_id}
    item = items_by_link_id(q)[link_id]
    if link_id not in overlay.defaults.get(workflow, {}):
        keep |= {option_code(i) for i in item.get("initial", ())}
    return keep


def _check(overlay: SiteOverlay) -> None:
    _check_workflows(overlay)
    for workflow in WORKFLOWS:
        q = base_questionnaire(workflow)
        items = items_by_link_id(q)
        for link_id, text in overlay.labels.get(workflow, {}).items():
            _item(items, f"labels.{workflow}.{link_id}", link_id, workflow)
            if not text.strip():
                raise ValueError(f"labels.{workflow}.{link_id}: a label cannot be blank")
        for link_id, options in overlay.choices.get(workflow, {}).items():
            where = f"choices.{workflow}.{link_id}"
            item = _item(items, where, link_id, workflow)
            if not item.get("answerOption") or "valueCoding" not in item["answerOption"][0]:
                raise ValueError(f"{where}: {link_id!r} has no coded choice list to replace")
            codes = [o.code for o in options]
            if not codes:
                raise ValueError(f"{where}: a choice list needs at least one option")
            if len(set(codes)) != len(codes):
                raise ValueError(f"{where}: a code is listed twice")
            system = item["answerOption"][0]["valueCoding"].get("system", "")
            original = {option_code(o) for o in item["answerOption"]}
            if not system.startswith(_LOCAL_SYSTEMS) and not set(codes) <= original:
                # e.g. referral urgency uses FHIR request-priority: a site may hide or relabel, not invent.
                extra = ", ".join(sorted(set(codes) - original))
                raise ValueError(f"{where}: {extra} not in the standard code system {system}")
            missing = _codes_to_keep(q, overlay, workflow, link_id) - set(codes)
            if missing:
                raise ValueError(
                    f"{where}: must keep code(s) {', '.join(sorted(map(str, missing)))}, "
                    "used by the form's rules or routing"
                )
        for link_id in overlay.defaults.get(workflow, {}):
            item = _item(items, f"defaults.{workflow}.{link_id}", link_id, workflow)
            if item["type"] == "group":
                raise ValueError(f"defaults.{workflow}.{link_id}: a group cannot have a default")
        for i, rule in enumerate(overlay.routing):
            if rule.workflow == workflow:
                item = _item(items, f"routing[{i}].when", rule.when.link_id, workflow, changeable=False)
                if item["type"] == "group":
                    raise ValueError(
                        f"routing[{i}].when: {rule.when.link_id!r} is a group; route on one of its items"
                    )
        if not (
            overlay.labels.get(workflow)
            or overlay.choices.get(workflow)
            or overlay.defaults.get(workflow)
            or any(r.workflow == workflow for r in overlay.routing)
        ):
            continue
        # Check default and routing values against the site's own choice lists, then the whole result.
        without_defaults = apply_overlay(q, overlay.model_copy(update={"defaults": {}}), workflow)
        fields = compile_questionnaire(without_defaults).by_id
        for link_id, value in overlay.defaults.get(workflow, {}).items():
            _check_value(fields[link_id], value, f"defaults.{workflow}.{link_id}")
        for i, rule in enumerate(overlay.routing):
            if rule.workflow == workflow:
                _check_value(
                    fields[rule.when.link_id], rule.when.equals, f"routing[{i}].when.equals", single=True
                )
        validate_questionnaire_resource(apply_overlay(q, overlay, workflow))


def _check_value(field: Any, value: Any, where: str, single: bool = False) -> None:
    if field.repeats and not single:
        if not isinstance(value, list) or not value:
            raise ValueError(f"{where}: {field.label} repeats, so its default must be a non-empty list")
        values = value
    elif isinstance(value, list):
        raise ValueError(f"{where}: {field.label} takes one value, not a list")
    else:
        values = [value]
    for v in values:
        _, message = to_answer(field, v)
        if message:
            raise ValueError(f"{where}: {message}")
