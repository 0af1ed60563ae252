"""The form engine on item types the five shipped forms do not all use: typed in, read back as simple answers."""

from __future__ import annotations

from PySide6.QtCore import Qt

from app.ui.form_engine import FormView

from .people import click_box, pick, type_into, yes

CODING = "https://example.org/codes"
QUESTIONNAIRE = {
    "resourceType": "Questionnaire", "url": "https://example.org/Questionnaire/kitchen-sink", "status": "draft",
    "title": "Every item type",
    "item": [
        {"linkId": "weight", "text": "Weight", "type": "decimal", "required": True},
        {"linkId": "temp", "text": "Temperature", "type": "quantity", "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/questionnaire-unitOption",
             "valueCoding": {"system": "http://unitsofmeasure.org", "code": "Cel", "display": "°C"}},
            {"url": "http://hl7.org/fhir/StructureDefinition/questionnaire-unitOption",
             "valueCoding": {"system": "http://unitsofmeasure.org", "code": "[degF]", "display": "°F"}}]},
        {"linkId": "dose_time", "text": "Dose time", "type": "time"},
        {"linkId": "ward", "text": "Ward", "type": "open-choice", "answerOption": [
            {"valueCoding": {"system": CODING, "code": "w7", "display": "Ward 7"}},
            {"valueCoding": {"system": CODING, "code": "w8", "display": "Ward 8"}}]},
        {"linkId": "symptoms", "text": "Symptoms", "type": "choice", "repeats": True, "answerOption": [
            {"valueCoding": {"system": CODING, "code": "fever", "display": "Fever"}},
            {"valueCoding": {"system": CODING, "code": "cough", "display": "Cough"}}]},
        {"linkId": "score", "text": "Score", "type": "integer"},
        {"linkId": "high_score_note", "text": "Why so high?", "type": "string", "required": True,
         "enableWhen": [{"question": "score", "operator": ">", "answerInteger": 7}]},
        {"linkId": "contacts", "text": "Contact", "type": "group", "repeats": True, "item": [
            {"linkId": "contact_name", "text": "Name", "type": "string"},
            {"linkId": "contact_called", "text": "Called", "type": "boolean"}]},
    ],
}


def test_every_item_type_reads_back_as_simple_answers(qtbot):
    view = FormView(QUESTIONNAIRE)
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    f = view.field
    assert f("weight").label.text() == "Weight *"
    type_into(qtbot, f("weight"), "72,5")  # a decimal comma is read as a point
    type_into(qtbot, f("temp"), "38.2")
    pick(qtbot, f("temp").unit_box, "°F")
    type_into(qtbot, f("dose_time"), "14:05")
    f("ward").input.setFocus()
    qtbot.keyClicks(f("ward").input.lineEdit(), "Side room 3")
    click_box(qtbot, f("symptoms").checks[1][1])
    assert not f("high_score_note").row.isVisible()
    type_into(qtbot, f("score"), "9")
    assert f("high_score_note").row.isVisible()  # enableWhen with '>' follows the typing
    type_into(qtbot, f("high_score_note"), "post-op")
    contacts = next(n for n in view.root.nodes if n.link_id == "contacts")
    type_into(qtbot, f("contact_name", 1), "Daughter")
    yes(qtbot, f("contact_called", 1))
    qtbot.mouseClick(contacts.add_button, Qt.MouseButton.LeftButton)
    type_into(qtbot, f("contact_name", 2), "GP surgery")

    assert view.answers() == {
        "weight": 72.5, "temp": {"value": 38.2, "unit": "[degF]"}, "dose_time": "14:05:00", "ward": "Side room 3",
        "symptoms": ["cough"], "score": 9, "high_score_note": "post-op",
        "contacts": [{"contact_name": "Daughter", "contact_called": True}, {"contact_name": "GP surgery"}],
    }
    f("ward").input.lineEdit().clear()
    qtbot.keyClicks(f("ward").input.lineEdit(), "Ward 8")
    f("score").edit.clear()
    type_into(qtbot, f("score"), "3")
    answers = view.answers()
    assert answers["ward"] == "w8"  # a typed option's display text is its code
    assert "high_score_note" not in answers  # hidden again: its answer is not sent


def test_text_that_is_not_a_number_goes_to_the_validator_as_typed(qtbot):
    view = FormView(QUESTIONNAIRE)
    qtbot.addWidget(view)
    type_into(qtbot, view.field("weight"), "about 70")
    type_into(qtbot, view.field("score"), "7.5")
    answers = view.answers()
    assert answers["weight"] == "about 70" and answers["score"] == 7.5
