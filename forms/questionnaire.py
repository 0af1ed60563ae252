"""The five workflow Questionnaires: loading (validated once per process), lookup and item helpers."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from forms.errors import UnknownWorkflow, WorkflowDisabled
from forms.vocabulary import WORKFLOWS

if TYPE_CHECKING:
    from forms.overlay import SiteOverlay


QUESTIONNAIRE_BASE_URL = "https://tideover.example/fhir/Questionnaire/"
LOCKED_URL = "https://tideover.example/fhir/StructureDefinition/locked"
MIN_VALUE_URL = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE_URL = "http://hl7.org/fhir/StructureDefinition/maxValue"
MIN_QUANTITY_URL = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-minQuantity"
MAX_QUANTITY_URL = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-maxQuantity"
UNIT_OPTION_URL = "http://hl7.org/fhir/StructureDefinition/questionnaire-unitOption"


def check_workflow(workflow: object) -> str:
    """Return `workflow` if it is one of WORKFLOWS, else raise UnknownWorkflow."""
    if workflow not in WORKFLOWS:
        raise UnknownWorkflow(workflow, WORKFLOWS)
    return workflow  # type: ignore[return-value]


def canonical_url(workflow: str) -> str:
    """The `url|version` canonical a QuestionnaireResponse for `workflow` points at."""
    q = base_questionnaire(workflow)
    return f"{q['url']}|{q['version']}"


def workflow_for_canonical(canonical: str) -> str | None:
    """The workflow a Questionnaire canonical (`url` or `url|version`) names, or None if it is not ours."""
    url = canonical.split("|", 1)[0]
    if not url.startswith(QUESTIONNAIRE_BASE_URL):
        return None
    name = url[len(QUESTIONNAIRE_BASE_URL) :]
    return name if name in WORKFLOWS else None


@cache
def base_questionnaire(workflow: str) -> dict[str, Any]:
    """The shipped Questionnaire, checked with fhir.resources on first use. Shared: never mutate it."""
    check_workflow(workflow)
    text = resources.files("forms").joinpath("questionnaires", f"{workflow}.json").read_text("utf-8")
    q = json.loads(text)
    validate_questionnaire_resource(q)
    return q


def questionnaire_version(workflow: str, version: str | None) -> dict[str, Any]:
    """The shipped Questionnaire of ``workflow`` at ``version`` (None: the current one). Shared: never mutate it.

    Earlier versions are kept as ``questionnaires/versions/<workflow>@<version>.json`` once a form
    changes; a version this release does not ship (none older was ever changed, or a newer
    workstation made it) reads with the current form, which keeps every linkId any version had
    (tests/forms/test_forms_versions.py checks that).
    """
    current = base_questionnaire(check_workflow(workflow))
    if version is None or version == current["version"]:
        return current
    return _archived_questionnaire(workflow, version) or current


@cache
def _archived_questionnaire(workflow: str, version: str) -> dict[str, Any] | None:
    if not re.fullmatch(r"[A-Za-z0-9.\-]{1,32}", version):
        return None
    path = resources.files("forms").joinpath("questionnaires", "versions", f"{workflow}@{version}.json")
    if not path.is_file():
        return None
    q = json.loads(path.read_text("utf-8"))
    validate_questionnaire_resource(q)
    return q


def archived_versions(workflow: str) -> list[dict[str, Any]]:
    """Every earlier version of ``workflow``'s Questionnaire this release ships."""
    folder = resources.files("forms").joinpath("questionnaires", "versions")
    if not folder.is_dir():
        return []
    names = sorted(p.name for p in folder.iterdir() if p.name.startswith(f"{workflow}@") and p.name.endswith(".json"))
    return [q for name in names if (q := _archived_questionnaire(workflow, name[len(workflow) + 1 : -5]))]


def lost_link_ids(older: dict[str, Any], newer: dict[str, Any]) -> set[str]:
    """linkIds of ``older`` that ``newer`` no longer has: answers made with ``older`` would lose their labels."""
    return {item["linkId"] for item in iter_items(older)} - {item["linkId"] for item in iter_items(newer)}


def questionnaire_for_response(qr: dict[str, Any]) -> dict[str, Any] | None:
    """The shipped Questionnaire version a QuestionnaireResponse names (``url|version``), or None
    if it names none of ours. The labels to show and print its answers with come from here."""
    canonical = str(qr.get("questionnaire", "")) if isinstance(qr, dict) else ""
    workflow = workflow_for_canonical(canonical)
    if workflow is None:
        return None
    version = canonical.split("|", 1)[1] if "|" in canonical else None
    return questionnaire_version(workflow, version)


def validate_questionnaire_resource(q: dict[str, Any]) -> None:
    """Parse `q` with fhir.resources R4B (slow: load time only) and check linkIds are unique."""
    from fhir.resources.R4B.questionnaire import Questionnaire

    Questionnaire.model_validate(q)
    seen: set[str] = set()
    for item in iter_items(q):
        if item["linkId"] in seen:
            raise ValueError(f"Questionnaire {q.get('url')}: duplicate linkId {item['linkId']!r}")
        seen.add(item["linkId"])


def load_questionnaire(workflow: str, overlay: SiteOverlay | None = None) -> dict[str, Any]:
    """Return a fresh copy of the workflow's Questionnaire dict, with the site overlay applied if given.

    Raises UnknownWorkflow for a bad name and WorkflowDisabled if the overlay switches it off.
    """
    q = copy.deepcopy(base_questionnaire(check_workflow(workflow)))
    if overlay is None:
        return q
    if not overlay.is_on(workflow):
        raise WorkflowDisabled(workflow)
    return overlay.apply_to(q, workflow, copy=False)


def iter_items(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every item under a Questionnaire (or item), depth first, in questionnaire order."""
    for item in node.get("item", ()):
        yield item
        yield from iter_items(item)


def items_by_link_id(q: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """All items of Questionnaire `q`, nested ones too, keyed by linkId (the items themselves, not copies)."""
    return {item["linkId"]: item for item in iter_items(q)}


def parents_by_link_id(q: dict[str, Any]) -> dict[str, str | None]:
    """linkId -> linkId of the enclosing group (None at top level)."""
    out: dict[str, str | None] = {}

    def walk(node: dict[str, Any], parent: str | None) -> None:
        for item in node.get("item", ()):
            out[item["linkId"]] = parent
            walk(item, item["linkId"])

    walk(q, None)
    return out


def extension_value(item: dict[str, Any], url: str) -> Any:
    """The value[x] of the first extension with `url` on `item`, or None."""
    for ext in item.get("extension", ()):
        if ext.get("url") == url:
            for key, value in ext.items():
                if key.startswith("value"):
                    return value
    return None


def is_locked(item: dict[str, Any]) -> bool:
    """True for identity/audit-critical items that a site overlay may not relabel or change."""
    return extension_value(item, LOCKED_URL) is True


def option_code(option: dict[str, Any]) -> Any:
    """The simple-answer value for an answerOption: the Coding's code, or the plain value."""
    for key, value in option.items():
        if key == "valueCoding":
            return value["code"]
        if key.startswith("value"):
            return value
    raise ValueError(f"answerOption without a value: {option!r}")


def option_display(option: dict[str, Any]) -> str:
    """What a person reads for an answerOption."""
    coding = option.get("valueCoding")
    if coding is not None:
        return coding.get("display") or coding["code"]
    return str(option_code(option))


def short_label(text: str) -> str:
    """An item's text without its trailing hint in brackets: 'Heart rate (beats/min)' -> 'Heart rate'."""
    cut = text.find(" (")
    return text[:cut] if cut > 0 else text
