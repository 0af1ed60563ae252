"""The unit board: filters, search by patient, sorting by header click, STAT and overdue marked in words."""

from __future__ import annotations

from PySide6.QtCore import Qt

from app.services import tasks as ts
from app.services.demo import DEMO_PASSWORD, example_answers
from app.store.store import Store

from .conftest import sign_in
from .people import pick


def add_stat_triage(data_dir) -> None:
    store = Store.open(data_dir, "colm", DEMO_PASSWORD)
    try:
        answers = {**example_answers("ed_triage"), "acuity_esi": 1}
        ts.capture_task(store, "ed_triage", "P100020", answers)
    finally:
        store.close("exit")


def texts(window, column: int) -> list[str]:
    model = window.board.model
    return [model.row_text(r)[column] for r in range(model.rowCount())]


def test_filters_and_search(qtbot, window):
    sign_in(qtbot, window)
    board = window.board
    assert board.count.text() == "Showing 4 of 5 tasks"  # open tasks by default
    pick(qtbot, board.status, "All")
    assert board.count.text() == "Showing 5 of 5 tasks"
    pick(qtbot, board.workflow, "Specimen")
    assert texts(window, 2) == ["Specimen handoff"]
    assert texts(window, 3) == ["completed"]
    pick(qtbot, board.workflow, "All")
    pick(qtbot, board.destination, "pharm")
    assert sorted(texts(window, 2)) == ["Inpatient discharge", "Medication reconciliation"]
    pick(qtbot, board.destination, "All")

    qtbot.keyClick(board.table, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert board.search.hasFocus()
    qtbot.keyClicks(board.search, "zztest-d")
    assert texts(window, 1) == ["ZZTEST-DALE, Viktor"]
    assert board.count.text() == "Showing 1 of 5 tasks"
    board.search.clear()
    qtbot.keyClicks(board.search, "P100002")
    assert texts(window, 1) == ["ZZTEST-BROOK, Hana"]
    board.search.clear()
    qtbot.keyClicks(board.search, "nobody-by-that-name")
    assert board.model.rowCount() == 0


def test_sort_by_clicking_headers(qtbot, window):
    sign_in(qtbot, window)
    pick(qtbot, window.board.status, "All")
    header = window.board.table.horizontalHeader()
    patient_x = header.sectionViewportPosition(1) + 20
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=header.rect().center().__class__(patient_x, 10))
    names = texts(window, 1)
    assert names == sorted(names) and len(names) == 5
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=header.rect().center().__class__(patient_x, 10))
    assert texts(window, 1) == sorted(names, reverse=True)


def test_stat_and_overdue_stand_out_in_words_and_colour(qtbot, make_window, demo_dir):
    add_stat_triage(demo_dir)
    window = make_window(demo_dir)
    sign_in(qtbot, window)
    assert texts(window, 0)[0] == "‼ STAT"  # most urgent first, before the person sorts anything
    pick(qtbot, window.board.priority, "STAT")
    assert texts(window, 0) == ["‼ STAT"]
    model = window.board.model
    assert model.data(model.index(0, 0), Qt.ItemDataRole.BackgroundRole).color().name() == "#ffd0d0"
    pick(qtbot, window.board.priority, "All")
    pick(qtbot, window.board.workflow, "Medication")
    # The demo store was made five hours ago: routine work waiting that long is overdue.
    waiting = texts(window, 6)
    assert len(waiting) == 1 and waiting[0].startswith("⚠ 5 h") and waiting[0].endswith("OVERDUE")
    assert model.data(model.index(0, 6), Qt.ItemDataRole.BackgroundRole).color().name() == "#ffe2a8"
