"""Answer checking: simple answers or a QuestionnaireResponse in, a canonical QuestionnaireResponse out.

Answers to items whose enableWhen is not met are an error, not silently dropped: a nurse who typed a
modification for a medication marked "stop" must see that the form does not agree with itself.
"""

from __future__ import annotations

from typing import Any

from forms.compiled import Condition, Field, Form, base_form, compile_questionnaire
from forms.errors import FormError, FormProblem
from forms.questionnaire import check_workflow, short_label, workflow_for_canonical
from forms.values import from_answer, is_blank, to_answer

Scope = list[tuple[str | None, dict[str, Any]]]  # (group linkId or None for the form, its answers)


def validate_answers(workflow: str, answers: dict, questionnaire: dict | None = None) -> dict:
    """Check `answers` (simple answers or a QuestionnaireResponse) against the workflow's form.

    Returns the canonical QuestionnaireResponse dict; raises FormError listing every problem found.
    Its items carry linkIds and answers, not the items' label text: the Questionnaire version the
    response names (``questionnaire``, ``url|version``) holds the labels, and every event stored
    with the answers stays smaller (``forms.questionnaire_for_response`` finds that version).
    Pass `questionnaire` (e.g. the site-overlaid one) to check against it instead of the shipped form.
    """
    check_workflow(workflow)
    form = base_form(workflow) if questionnaire is None else compile_questionnaire(questionnaire)
    problems: list[FormProblem] = []
    if form.workflow != workflow:
        problems.append(FormProblem(None, f"The questionnaire given is {form.url}, not the {workflow} form"))
    if not isinstance(answers, dict):
        raise FormError([FormProblem(None, "Answers must be a JSON object keyed by linkId")])
    if answers.get("resourceType") == "QuestionnaireResponse":
        simple = _response_to_simple(form, answers, problems, strict=True)
    else:
        simple = answers
    found: list[FormProblem] = []
    items = _check_group(form, form.fields, form.child_by_id, simple, [(None, simple)], "", "", found)
    # A value under the wrong value[x] key is reported once, as that, not again as a bad value.
    reported = {p.link_id for p in problems}
    problems += [p for p in found if p.link_id not in reported]
    if problems:
        raise FormError(problems)
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": form.canonical,
        "status": "completed",
        "item": items,
    }


def simple_answers(qr: dict, questionnaire: dict | None = None) -> dict:
    """The simple answers of QuestionnaireResponse `qr`; inverse of validate_answers on a valid response.

    The questionnaire (default: the one `qr` names) says which groups and items repeat.
    """
    form = _form_for_response(qr, questionnaire)
    problems: list[FormProblem] = []
    simple = _response_to_simple(form, qr, problems, strict=False)
    if problems:
        raise FormError(problems)
    return simple


def response_to_fhir(qr: dict) -> Any:
    """Parse a QuestionnaireResponse dict into a fhir.resources R4B model (slow; for export and tests)."""
    from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

    return QuestionnaireResponse.model_validate(qr)


def as_simple(workflow: str, qr_or_simple: dict) -> dict:
    """Simple answers from either form of answers (no validation)."""
    if qr_or_simple.get("resourceType") == "QuestionnaireResponse":
        return simple_answers(qr_or_simple)
    return qr_or_simple


def values_of(form: Form, simple: dict, link_id: str) -> list[Any]:
    """Every non-blank simple value given for `link_id`, at whatever depth and repeat it sits."""
    f = form.by_id.get(link_id)
    if f is None:
        return []
    return _collect([simple], f.groups, link_id)


# --- checking --------------------------------------------------------------------------------------


def _check_group(
    form: Form,
    fields: tuple[Field, ...],
    child_by_id: dict[str, Field],
    values: dict,
    scope: Scope,
    path: str,
    prefix: str,
    problems: list[FormProblem],
) -> list[dict]:
    for key in values:
        if key not in child_by_id:
            problems.append(_unknown(form, key, path))
    out: list[dict] = []
    for f in fields:
        value = values.get(f.link_id)
        here = f"{path}.{f.link_id}" if path else f.link_id
        blank = is_blank(value)
        if f.conditions and not _enabled(f, scope):
            # If the controlling answer is itself wrong, that problem is the one to fix first.
            controller_wrong = any(p.link_id == c.question for c in f.conditions for p in problems)
            if not blank and not controller_wrong:
                problems.append(FormProblem(f.link_id, _disabled_message(form, f, scope, prefix), here))
            continue
        if blank:
            if f.type == "group" and f.required and f.has_required_descendant:
                value = [{}] if f.repeats else {}  # name the missing fields rather than the group
            elif f.required:
                problems.append(FormProblem(f.link_id, f"{prefix}{f.label} is required", here))
                continue
            else:
                continue
        if f.type == "group":
            out.extend(_check_subgroup(form, f, value, scope, here, prefix, problems))
        else:
            item = _check_question(f, value, here, prefix, problems)
            if item is not None:
                out.append(item)
    return out


def _check_subgroup(
    form: Form, f: Field, value: Any, scope: Scope, here: str, prefix: str, problems: list[FormProblem]
) -> list[dict]:
    if f.repeats:
        if not isinstance(value, list):
            problems.append(FormProblem(f.link_id, f"{prefix}{f.label} must be a list of entries", here))
            return []
        instances = [
            (f"{here}[{i}]", f"{prefix}{f.label} {i}", f"{prefix}{f.label} {i}: ", v)
            for i, v in enumerate(value, 1)
        ]
    else:
        instances = [(here, f"{prefix}{f.label}", prefix, value)]
    out = []
    for inst_path, name, inst_prefix, inst in instances:
        if not isinstance(inst, dict):
            problems.append(FormProblem(f.link_id, f"{name} must be a group of answers", inst_path))
            continue
        sub = _check_group(
            form,
            f.children,
            f.child_by_id,
            inst,
            scope + [(f.link_id, inst)],
            inst_path,
            inst_prefix,
            problems,
        )
        if sub:
            out.append({"linkId": f.link_id, "item": sub})
    return out


def _check_question(f: Field, value: Any, here: str, prefix: str, problems: list[FormProblem]) -> dict | None:
    if f.repeats:
        if not isinstance(value, list):
            problems.append(FormProblem(f.link_id, f"{prefix}{f.label} must be a list of answers", here))
            return None
        values = [v for v in value if not is_blank(v)]
    elif isinstance(value, list):
        problems.append(FormProblem(f.link_id, f"{prefix}{f.label} takes only one answer", here))
        return None
    else:
        values = [value]
    answers = []
    for v in values:
        answer, message = to_answer(f, v)
        if message is not None:
            problems.append(FormProblem(f.link_id, prefix + message, here))
        else:
            answers.append(answer)
    if len(answers) != len(values) or not answers:
        return None
    return {"linkId": f.link_id, "answer": answers}


def _unknown(form: Form, key: Any, path: str) -> FormProblem:
    where = f"{path}.{key}" if path else str(key)
    f = form.by_id.get(key) if isinstance(key, str) else None
    if f is not None:
        home = form.by_id[f.groups[-1]].label if f.groups else "the top level of the form"
        return FormProblem(key, f"{f.label} is in the wrong place: it belongs in {home}", where)
    return FormProblem(str(key), f"{key!r} is not a field of the {form.title} form", where)


# --- enableWhen ------------------------------------------------------------------------------------


def _collect(dicts: list[dict], groups: tuple[str, ...], link_id: str) -> list[Any]:
    for g in groups:
        nested: list[dict] = []
        for d in dicts:
            sub = d.get(g)
            if isinstance(sub, dict):
                nested.append(sub)
            elif isinstance(sub, list):
                nested.extend(x for x in sub if isinstance(x, dict))
        dicts = nested
    out: list[Any] = []
    for d in dicts:
        v = d.get(link_id)
        for x in v if isinstance(v, list) else (v,):
            if not is_blank(x):
                out.append(x)
    return out


def _answers_in_scope(c: Condition, scope: Scope) -> list[Any]:
    # The question's nearest enclosing group instance shared with the item being checked decides,
    # so "decision" in medication 2 controls "modification" in medication 2 only.
    depth = 0
    while (
        depth < len(c.question_groups)
        and depth + 1 < len(scope)
        and scope[depth + 1][0] == c.question_groups[depth]
    ):
        depth += 1
    return _collect([scope[depth][1]], c.question_groups[depth:], c.question)


def _same(a: Any, b: Any) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def condition_holds(operator: str, expected: Any, answers: list[Any]) -> bool:
    """Whether one enableWhen condition holds for the answers given to its question.

    The one rule for both the validator and the desktop form, so a nurse never sees a field the
    validator then treats as disabled (or the reverse).
    """
    if operator == "exists":
        return bool(answers) == bool(expected)
    if operator == "=":
        return any(_same(a, expected) for a in answers)
    if operator == "!=":
        return any(not _same(a, expected) for a in answers)
    try:
        if operator == ">":
            return any(a > expected for a in answers)
        if operator == "<":
            return any(a < expected for a in answers)
        if operator == ">=":
            return any(a >= expected for a in answers)
        if operator == "<=":
            return any(a <= expected for a in answers)
    except TypeError:
        return False
    raise ValueError(f"Unsupported enableWhen operator {operator!r}")


def _holds(c: Condition, answers: list[Any]) -> bool:
    return condition_holds(c.operator, c.expected, answers)


def _enabled(f: Field, scope: Scope) -> bool:
    results = (_holds(c, _answers_in_scope(c, scope)) for c in f.conditions)
    return any(results) if f.enable_any else all(results)


def _disabled_message(form: Form, f: Field, scope: Scope, prefix: str) -> str:
    c = f.conditions[0]
    q = form.by_id.get(c.question)
    q_label = c.question if q is None else short_label(q.text) if c.question_groups == f.groups else q.label
    if len(f.conditions) == 1 and c.operator == "=" and q is not None:
        return f"{prefix}{f.label} must be left blank unless {q_label} is {q.display(c.expected)}"
    actual = _answers_in_scope(c, scope)
    shown = ", ".join(q.display(a) for a in actual) if q and actual else "not answered"
    return f"{prefix}{f.label} must be left blank because {q_label} is {shown}"


# --- QuestionnaireResponse -> simple answers -------------------------------------------------------


def _form_for_response(qr: Any, questionnaire: dict | None) -> Form | None:
    if questionnaire is not None:
        return compile_questionnaire(questionnaire)
    if not isinstance(qr, dict):
        raise FormError([FormProblem(None, "A QuestionnaireResponse must be a JSON object")])
    workflow = workflow_for_canonical(str(qr.get("questionnaire", "")))
    return base_form(workflow) if workflow else None


def _response_to_simple(form: Form | None, qr: dict, problems: list[FormProblem], strict: bool) -> dict:
    if form is not None and strict:
        canonical = qr.get("questionnaire")
        if canonical not in (form.url, form.canonical):
            problems.append(FormProblem(None, f"This response is for {canonical!r}, not {form.canonical}"))
    items = qr.get("item", [])
    if not isinstance(items, list):
        problems.append(FormProblem(None, "QuestionnaireResponse.item must be a list"))
        return {}
    return _items_to_simple(form.child_by_id if form else None, items, "", problems, strict)


def _items_to_simple(
    fields: dict[str, Field] | None, items: list, path: str, problems: list[FormProblem], strict: bool
) -> dict:
    out: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("linkId"), str):
            problems.append(
                FormProblem(None, f"Every response item needs a linkId (at {path or 'top level'})", path)
            )
            continue
        link_id = item["linkId"]
        here = f"{path}.{link_id}" if path else link_id
        f = fields.get(link_id) if fields is not None else None
        if "item" in item:  # a group
            sub = _items_to_simple(f.child_by_id if f else None, item["item"], here, problems, strict)
            repeats = f.repeats if f else link_id in out
            if repeats:
                existing = out.get(link_id)
                out[link_id] = (
                    existing if isinstance(existing, list) else [existing] if existing else []
                ) + [sub]
            else:
                out[link_id] = sub
            continue
        values = []
        for answer in item.get("answer", []):
            if not isinstance(answer, dict):
                problems.append(FormProblem(link_id, f"{link_id}: each answer must be an object", here))
                continue
            if "item" in answer:
                problems.append(
                    FormProblem(link_id, f"{link_id}: items nested under answers are not used", here)
                )
            key, value = from_answer(answer)
            if strict and f is not None and f.answer_key is not None and key != f.answer_key:
                problems.append(
                    FormProblem(link_id, f"{f.label}: answer is {key}, expected {f.answer_key}", here)
                )
            values.append(value)
        if link_id in out:
            problems.append(FormProblem(link_id, f"{link_id} appears twice in the response", here))
        repeats = f.repeats if f else len(values) > 1
        out[link_id] = values if repeats else (values[0] if len(values) == 1 else values)
    return out
