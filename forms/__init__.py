"""Tideover forms: FHIR R4B Questionnaires for the five downtime workflows, answer checking, site
overlays, routing and paper forms. Imports nothing from `app` or `sync`, and never Qt."""

from forms.answers import response_to_fhir, simple_answers, validate_answers
from forms.errors import FormError, FormProblem, OverlayError, UnknownWorkflow, WorkflowDisabled
from forms.overlay import (
    ChoiceOption,
    RoutingCondition,
    RoutingRule,
    SiteOverlay,
    apply_overlay,
    load_overlay,
    parse_overlay,
)
from forms.paper import blank_form_lines
from forms.questionnaire import (
    canonical_url,
    is_locked,
    items_by_link_id,
    load_questionnaire,
    questionnaire_for_response,
)
from forms.routing import DEFAULT_DESTINATIONS, escalated_priority, known_destinations, route_destination
from forms.summary import summarize
from forms.vocabulary import PRIORITIES, WORKFLOW_TITLES, WORKFLOWS

__all__ = [
    "DEFAULT_DESTINATIONS",
    "known_destinations",
    "PRIORITIES",
    "WORKFLOWS",
    "WORKFLOW_TITLES",
    "ChoiceOption",
    "FormError",
    "FormProblem",
    "OverlayError",
    "RoutingCondition",
    "RoutingRule",
    "SiteOverlay",
    "UnknownWorkflow",
    "WorkflowDisabled",
    "apply_overlay",
    "blank_form_lines",
    "canonical_url",
    "escalated_priority",
    "is_locked",
    "items_by_link_id",
    "load_overlay",
    "load_questionnaire",
    "parse_overlay",
    "questionnaire_for_response",
    "response_to_fhir",
    "route_destination",
    "simple_answers",
    "summarize",
    "validate_answers",
]
