"""Screenshots of the main screens, for people to look at (run under Xvfb, as CI does).

    xvfb-run -a python benchmarks/screenshots.py --out screenshots

Seeds a throwaway demo store (made five hours ago, so routine work shows as overdue, plus one
STAT triage), drives the real window at 1366x768 and saves one PNG per screen.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.services import tasks as ts
from app.services.demo import DEMO_PASSWORD, example_answers, seed_demo
from sync.clock import Clock


def seed(folder: Path) -> Path:
    start = datetime.now(UTC) - timedelta(hours=5)
    store, _ = seed_demo(folder, clock=Clock(lambda: start))
    store.close("exit")
    from app.store.store import Store

    store = Store.open(folder, "colm", DEMO_PASSWORD)
    ts.capture_task(store, "ed_triage", "P100020", {**example_answers("ed_triage"), "acuity_esi": 1,
                                                    "chief_complaint": "collapse, unresponsive (synthetic)"})
    store.close("exit")
    return folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("screenshots"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tideover-shots-"))
    try:
        return shoot(seed(work / "store"), args.out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def shoot(data_dir: Path, out: Path) -> int:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from app.ui.main import make_app, open_window

    qt_app = make_app()  # noqa: F841 - keeps the QApplication alive while we drive the window
    window = open_window(data_dir, user="nina",
                         hint=f"DEMO workstation with synthetic patients. Password for nina, colm and sam: "
                              f"{DEMO_PASSWORD}")

    def settle(ms: int = 300, until=None) -> None:
        for _ in range(200):
            loop = QEventLoop()
            QTimer.singleShot(ms if until is None else 50, loop.quit)
            loop.exec()
            if until is None or until():
                break

    def save(widget, name: str) -> None:
        settle(150)
        widget.grab().save(str(out / f"{name}.png"))
        print(out / f"{name}.png")

    settle()
    save(window, "01-unlock")
    window.unlock.password.setText("wrong password typed at 3am")
    window.unlock._submit()
    settle(until=lambda: window.unlock.message.isVisible())
    save(window, "02-unlock-wrong-password")
    window.unlock.password.setText(DEMO_PASSWORD)
    window.unlock._submit()
    settle(until=lambda: window.board.model.total > 0 and window.banner.census.isVisible())
    save(window, "03-board")

    window.new_task()
    settle(until=lambda: window.capture.picker.results_model.rowCount() > 0)
    window.capture.save()
    save(window, "04-capture-required-fields")

    picker = window.capture.picker
    picker.open_register()
    dialog = picker.register_dialog
    dialog.family.setText("Zztest-Ashby")
    dialog.given.setText("Alise")
    dialog.submit.click()
    settle(until=lambda: dialog.warning.isVisible())
    save(dialog, "05-temporary-patient-similar-name")
    dialog.reject()

    window.capture.workflow.setCurrentIndex(window.capture.workflow.findData("med_reconciliation"))
    settle()
    save(window, "06-capture-medication-reconciliation")

    window.show_board()
    model = window.board.model
    row = next(r for r in range(model.rowCount()) if model.row_text(r)[2] == "Referral")
    window.board.open_task.emit(model.task_at(row)["task_id"])
    settle(until=lambda: window.stack.currentWidget() is window.detail)
    save(window, "07-task-detail")
    dialog = window.prints.open_dialog(prefer_task=True)
    save(dialog, "08-print")
    dialog.reject()

    window.session.lock("manual")
    settle(until=lambda: window.stack.currentWidget() is window.unlock)
    window.unlock.training_button.click()
    settle(until=lambda: window.unlock.hint.text().startswith("TRAINING"))
    window.unlock.password.setText(DEMO_PASSWORD)
    window.unlock._submit()
    settle(until=lambda: window.board.model.total > 0 and window.banner.census.isVisible())
    save(window, "09-training-board")
    window.session.close_now()
    QApplication.processEvents()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
