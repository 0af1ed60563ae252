"""One-line summaries of a captured form for the unit board. Never includes the patient's name."""

from __future__ import annotations

from typing import Any

from forms.answers import as_simple, values_of
from forms.compiled import Form, base_form, compile_questionnaire
from forms.questionnaire import check_workflow

SEP = " · "
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def summarize(workflow: str, qr_or_simple: dict, *, questionnaire: dict | None = None) -> str:
    """A short line for the unit board, e.g. 'ESI 2 · chest pain · majors' (no patient identifiers).

    Pass the site-overlaid `questionnaire` to show the site's choice labels.
    """
    check_workflow(workflow)
    form = base_form(workflow) if questionnaire is None else compile_questionnaire(questionnaire)
    simple = as_simple(workflow, qr_or_simple)
    parts = _SUMMARIES[workflow](_Answers(form, simple))
    return SEP.join(p for p in parts if p) or form.title


class _Answers:
    def __init__(self, form: Form, simple: dict):
        self.form, self.simple = form, simple

    def all(self, link_id: str) -> list[Any]:
        return values_of(self.form, self.simple, link_id)

    def one(self, link_id: str) -> Any:
        found = self.all(link_id)
        return found[0] if found else None

    def shown(self, link_id: str, lower: bool = True) -> str:
        value = self.one(link_id)
        if value is None:
            return ""
        text = self.form.by_id[link_id].display(value)
        return text.lower() if lower else text


def _clip(text: Any, limit: int = 40) -> str:
    if not isinstance(text, str):
        return ""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _clock(iso: Any) -> str:
    return iso[11:16] if isinstance(iso, str) and len(iso) >= 16 else ""


def _day_clock(iso: Any) -> str:
    if not isinstance(iso, str) or len(iso) < 16:
        return ""
    return f"{int(iso[8:10])} {_MONTHS[int(iso[5:7]) - 1]} {iso[11:16]}"


def _ed_triage(a: _Answers) -> list[str]:
    esi = a.one("acuity_esi")
    isolation = a.one("isolation")
    return [
        f"ESI {esi}" if esi is not None else "",
        _clip(a.one("chief_complaint")),
        a.shown("ed_zone"),
        f"{a.shown('isolation')} isolation" if isolation not in (None, "none") else "",
    ]


def _discharge(a: _Answers) -> list[str]:
    checklist = a.form.by_id["checklist"].children
    done = sum(1 for g in checklist if a.one(f"{g.link_id}_done") is True)
    when = _day_clock(a.one("expected_discharge"))
    return [
        f"{done}/{len(checklist)} ready",
        a.shown("discharge_destination"),
        f"expected {when}" if when else "",
    ]


def _med_rec(a: _Answers) -> list[str]:
    decisions = a.all("decision")
    count = len(a.all("medication_name"))
    if a.one("no_current_medications") is True:
        meds = "no regular meds"
    else:
        meds = f"{count} med{'s' if count != 1 else ''}"
    changes = [f"{decisions.count(code)} {code}" for code in ("hold", "stop", "modify") if code in decisions]
    verified = "pharmacist verified" if a.one("pharmacist_verified") is True else "not verified"
    return [meds, *changes, verified]


def _referral(a: _Answers) -> list[str]:
    return [a.shown("specialty", lower=False), a.shown("urgency"), a.shown("referral_status")]


def _specimen(a: _Answers) -> list[str]:
    tests = len(a.all("tests"))
    collected = _clock(a.one("collected_at"))
    return [
        a.shown("specimen_type", lower=False),
        f"{tests} test{'s' if tests != 1 else ''}" if tests else "",
        f"collected {collected}" if collected else "",
        "received" if a.one("received_at") else "",
        "not labelled at bedside" if a.one("labelled_at_bedside") is False else "",
        "DISCREPANCY" if a.one("discrepancy") is True else "",
    ]


_SUMMARIES = {
    "ed_triage": _ed_triage,
    "inpatient_discharge": _discharge,
    "med_reconciliation": _med_rec,
    "referral": _referral,
    "specimen_handoff": _specimen,
}
