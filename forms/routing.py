"""Where a captured form's work goes next, and how urgent it is: pure rules over simple answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from forms.answers import as_simple, values_of
from forms.compiled import base_form
from forms.questionnaire import check_workflow
from forms.vocabulary import PRIORITIES

if TYPE_CHECKING:
    from forms.overlay import SiteOverlay



@dataclass(frozen=True, slots=True)
class Route:
    """Answer `link_id` == `equals` sends the work to `destination` (and raises it to `priority`)."""

    workflow: str
    link_id: str
    equals: Any
    destination: str
    priority: str | None = None
    # Safety escalations beat a site's ordinary routing rules; only a site rule on the same field
    # (naming its own supervisor queue, say) can redirect them.
    escalation: bool = False


BUILTIN_ROUTES: tuple[Route, ...] = (
    Route("specimen_handoff", "discrepancy", True, "lab_supervisor", priority="urgent", escalation=True),
    Route("ed_triage", "acuity_esi", 1, "ed_resus", priority="stat"),
    Route("ed_triage", "acuity_esi", 2, "ed_resus", priority="urgent"),
)

DEFAULT_DESTINATIONS: dict[str, str] = {
    "ed_triage": "ed_nursing",
    "inpatient_discharge": "bed_control",
    "med_reconciliation": "pharmacy",
    "referral": "referral_office",
    "specimen_handoff": "lab",
}


def known_destinations(overlay: SiteOverlay | None = None) -> tuple[str, ...]:
    """Every queue work can be routed to (the built-in defaults and rules, and the site's own), sorted:
    the list a person hands a task over to."""
    found = {*DEFAULT_DESTINATIONS.values(), *(r.destination for r in BUILTIN_ROUTES)}
    if overlay is not None:
        found |= {r.destination for r in overlay.routing} | set(overlay.default_destination.values())
    return tuple(sorted(found))


def _same(a: Any, b: Any) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _matches(workflow: str, simple: dict, link_id: str, equals: Any) -> bool:
    return any(_same(v, equals) for v in values_of(base_form(workflow), simple, link_id))


def route_destination(workflow: str, answers_simple: dict, overlay: SiteOverlay | None = None) -> str | None:
    """The queue (role) the captured form goes to next.

    Order: site rules on escalation fields, built-in escalations, other site rules (first match wins),
    built-in rules, then the site's or the built-in default destination.
    """
    check_workflow(workflow)
    simple = as_simple(workflow, answers_simple)
    builtin = [r for r in BUILTIN_ROUTES if r.workflow == workflow]
    escalation_fields = {r.link_id for r in builtin if r.escalation}
    site_rules = [r for r in overlay.routing if r.workflow == workflow] if overlay else []
    ordered: list[tuple[str, Any, str]] = (
        [
            (r.when.link_id, r.when.equals, r.destination)
            for r in site_rules
            if r.when.link_id in escalation_fields
        ]
        + [(r.link_id, r.equals, r.destination) for r in builtin if r.escalation]
        + [
            (r.when.link_id, r.when.equals, r.destination)
            for r in site_rules
            if r.when.link_id not in escalation_fields
        ]
        + [(r.link_id, r.equals, r.destination) for r in builtin if not r.escalation]
    )
    for link_id, equals, destination in ordered:
        if _matches(workflow, simple, link_id, equals):
            return destination
    if overlay is not None and workflow in overlay.default_destination:
        return overlay.default_destination[workflow]
    return DEFAULT_DESTINATIONS[workflow]


def escalated_priority(workflow: str, answers_simple: dict) -> str | None:
    """The FHIR priority the answers demand (routine/urgent/asap/stat), or None if nothing escalates.

    Specimen discrepancy -> urgent; ESI 1 -> stat, ESI 2 -> urgent; a referral's own urgency if above routine.
    """
    check_workflow(workflow)
    simple = as_simple(workflow, answers_simple)
    found = [
        r.priority
        for r in BUILTIN_ROUTES
        if r.workflow == workflow and r.priority and _matches(workflow, simple, r.link_id, r.equals)
    ]
    if workflow == "referral":
        found += [u for u in values_of(base_form(workflow), simple, "urgency") if u in PRIORITIES[1:]]
    if not found:
        return None
    return max(found, key=PRIORITIES.index)
