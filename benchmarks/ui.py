"""Desktop app speed on a unit board of many tasks (Qt offscreen).

    python benchmarks/ui.py --tasks 50000 --json

Prints one JSON object:
  start_to_unlock_ms   process start (exec of a fresh Python) to the unlock screen's first paint, median of 3
  filter_ms_p95        typing a patient search (and switching filters) on the board, each keystroke until
                       the board has repainted, 95th percentile
  open_task_ms         Enter on a board row until the task detail (answers + timeline) is shown, median;
                       open_task_ms_p95 too
  max_rss_mb           peak resident memory of the app process holding the whole board
and baselines measured in the same run: ``qt_bare_start_ms`` (a fresh Python showing a bare QWidget
with a QLineEdit) and ``qt_proxy_filter_ms_p95`` (the textbook Qt way: QStandardItemModel under chained
QSortFilterProxyModels, filtering in C++, replaying exactly the board's operations: the same searches
over the same text, names and patient id, and the same workflow, priority and destination choices).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.services.demo import DEMO_PASSWORD, example_answers, seed_demo  # noqa: E402
from forms import WORKFLOWS, summarize, validate_answers  # noqa: E402
from sync.events import new_id  # noqa: E402

PRIORITIES = ("routine", "routine", "routine", "urgent", "asap", "stat")
DESTINATIONS = {"ed_triage": "ed_nursing", "inpatient_discharge": "bed_control", "med_reconciliation": "pharmacy",
                "referral": "referral_office", "specimen_handoff": "lab"}

CHILD_APP = r"""
import os, sys, time
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from pathlib import Path
from PySide6.QtCore import QEvent, QObject
from app.ui.main import make_app, open_window
app = make_app()
class FirstPaint(QObject):
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint:
            print(time.time(), flush=True)
            os._exit(0)
        return False
window = open_window(Path(sys.argv[1]), user="nina")
window.unlock.installEventFilter(f := FirstPaint())
app.exec()
"""

CHILD_BARE = r"""
import os, time
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QLineEdit, QVBoxLayout, QWidget
app = QApplication([])
class FirstPaint(QObject):
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint:
            print(time.time(), flush=True)
            os._exit(0)
        return False
w = QWidget(); QVBoxLayout(w).addWidget(QLineEdit()); w.resize(1366, 768)
w.installEventFilter(f := FirstPaint()); w.show()
app.exec()
"""


def prefill(store, n: int, census: int, batch: int = 1000) -> None:
    responses = {w: validate_answers(w, example_answers(w)) for w in WORKFLOWS}
    summaries = {w: summarize(w, responses[w]) for w in WORKFLOWS}
    done = 0
    while done < n:
        items = []
        for i in range(done, min(n, done + batch)):
            w = WORKFLOWS[i % len(WORKFLOWS)]
            task_id = new_id()
            items.append(("task.created", {"patient_id": f"P{100001 + (i * 7) % census}", "answers": responses[w],
                                           "summary": summaries[w], "priority": PRIORITIES[i % len(PRIORITIES)]},
                          None, {"workflow": w, "task_id": task_id, "base_version": 0, "correlation_id": task_id,
                                 "destination": DESTINATIONS[w]}))
        store.record_many(items)
        done += len(items)


def child_start_ms(code: str, arg: str, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t0 = time.time()
        out = subprocess.run([sys.executable, "-P", "-c", code, arg], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
        if out.returncode != 0 or not out.stdout.strip():
            raise SystemExit(f"start-up child failed: {out.stderr[-2000:]}")
        times.append((float(out.stdout.strip().splitlines()[-1]) - t0) * 1000)
    return statistics.median(times)


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]


def wait(app, condition, timeout_s: float = 120) -> None:
    end = time.perf_counter() + timeout_s
    while not condition():
        app.processEvents()
        if time.perf_counter() > end:
            raise SystemExit("timed out waiting for the app")
        time.sleep(0.0005)


FILTER_COMBOS = ("workflow", "priority", "destination")  # the board's filter boxes, by attribute name
SEARCHES = ["z", "zz", "zzt", "zzte", "zztes", "zztest", "zztest-", "zztest-a", "zztest-as", "zztest-ash",
            "zztest-as", "zztest-a", "zztest-", "zztest-k", "zztest-ke", "zztest-ker", "", "p", "p1", "p10",
            "p100", "p1000", "p10001", "p100012", "", "a", "al", "ali", "alic", "alice", ""]


def measure_app(data_dir: Path) -> dict:
    from PySide6.QtWidgets import QApplication

    from app.ui.main import make_app, open_window

    app = make_app()
    window = open_window(data_dir, user="nina")
    app.processEvents()
    window.unlock.password.setText(DEMO_PASSWORD)
    t0 = time.perf_counter()
    window.unlock._submit()
    wait(app, lambda: window.board.model.total > 0)
    app.processEvents()
    unlock_to_board = (time.perf_counter() - t0) * 1000
    board = window.board
    board.status.setCurrentIndex(board.status.findData(""))  # all statuses: every row in play
    filter_times, ops = [], []
    for _round in range(3):
        for text in SEARCHES:
            t = time.perf_counter()
            board.search.setText(text)
            board.table.viewport().repaint()
            QApplication.processEvents()
            filter_times.append((time.perf_counter() - t) * 1000)
            ops.append(("text", text))
        for key in FILTER_COMBOS:
            combo = getattr(board, key)
            for i in list(range(1, min(combo.count(), 4))) + [0]:
                t = time.perf_counter()
                combo.setCurrentIndex(i)
                board.table.viewport().repaint()
                QApplication.processEvents()
                filter_times.append((time.perf_counter() - t) * 1000)
                ops.append((key, combo.currentData() or ""))
    open_times = []
    rows = board.model.rowCount()
    for k in range(25):
        row = (k * 1997) % rows
        window.show_board()
        board.table.selectRow(row)
        task_id = board.selected_task_id()
        t = time.perf_counter()
        board.open_task.emit(task_id)
        wait(app, lambda tid=task_id: window.detail.task is not None and window.detail.task["task_id"] == tid
             and window.stack.currentWidget() is window.detail)
        window.detail.repaint()
        open_times.append((time.perf_counter() - t) * 1000)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    window.session.close_now()
    window.close()
    return {"unlock_to_board_ms": round(unlock_to_board, 1), "filter_ms_p95": round(p95(filter_times), 2),
            "filter_ms_median": round(statistics.median(filter_times), 2), "filter_samples": len(filter_times),
            "open_task_ms": round(statistics.median(open_times), 1), "open_task_ms_p95": round(p95(open_times), 1),
            "max_rss_mb": round(rss, 1), "filter_ops": ops}


def measure_qt_proxy_filter(data_dir: Path, ops: list[tuple[str, str]]) -> float:
    """Baseline: the textbook Qt way, QStandardItemModel under QSortFilterProxyModels (filtering in C++),
    doing what the board did (``ops``, as measure_app recorded them): the patient search over the same
    text the board searches (names and patient id), then the workflow, priority and destination filters,
    one proxy per condition, chained, each keystroke or choice until the view has repainted."""
    from PySide6.QtCore import QRegularExpression, QSortFilterProxyModel, Qt
    from PySide6.QtGui import QStandardItem, QStandardItemModel
    from PySide6.QtWidgets import QApplication, QTableView

    import app.ui  # noqa: F401 - pins None/True/False: 350,000 setItem calls would abort Python 3.11 otherwise
    from app.services.tasks import list_tasks
    from app.store.store import Store

    qt_app = QApplication.instance() or QApplication([])
    store = Store.open(data_dir, "nina", DEMO_PASSWORD)
    rows = list_tasks(store)
    store.close("exit")
    shown = ("priority", "patient", "workflow", "status", "destination", "summary", "created_at")
    columns = {key: c for c, key in enumerate((*shown, "search"))}
    model = QStandardItemModel(len(rows), len(columns))
    for r, row in enumerate(rows):
        values = {**row, "patient": f"{row['family']}, {row['given']}", "destination": row["destination"] or "",
                  # the text the board's search looks in (board_model.BoardModel.load)
                  "search": f"{row['family'] or ''} {row['given'] or ''} {row['given'] or ''} "
                            f"{row['family'] or ''} {row['patient_id']}"}
        for key, c in columns.items():
            model.setItem(r, c, QStandardItem(values[key] or ""))
    proxies, source = {}, model
    for key, column in (("text", "search"), *((k, k) for k in FILTER_COMBOS)):
        proxy = QSortFilterProxyModel()
        proxy.setSourceModel(source)
        proxy.setFilterKeyColumn(columns[column])
        proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        proxies[key], source = proxy, proxy
    view = QTableView()
    view.setModel(source)
    view.setColumnHidden(columns["search"], True)
    view.resize(1366, 700)
    view.show()
    times = []
    for key, value in ops:
        t = time.perf_counter()
        if key == "text":
            proxies[key].setFilterFixedString(value.strip())
        else:
            proxies[key].setFilterRegularExpression(
                QRegularExpression(f"^{QRegularExpression.escape(value)}$") if value else QRegularExpression())
        view.viewport().repaint()
        qt_app.processEvents()
        times.append((time.perf_counter() - t) * 1000)
    view.close()
    return round(p95(times), 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=50_000)
    ap.add_argument("--census", type=int, default=400)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--dir", type=Path, help="work folder (default: a temp folder, removed after)")
    ap.add_argument("--measure-app", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure_app:
        print(json.dumps(measure_app(args.measure_app)))
        return 0
    folder = args.dir or Path(tempfile.mkdtemp(prefix="tideover-ui-bench-"))
    try:
        data_dir = folder / "store"
        t0 = time.perf_counter()
        store, _ = seed_demo(data_dir, census_size=args.census)
        prefill(store, args.tasks, args.census)
        store.close("exit")
        seed_s = time.perf_counter() - t0
        result = {"tasks": args.tasks + len(WORKFLOWS), "seed_s": round(seed_s, 1),
                  "start_to_unlock_ms": round(child_start_ms(CHILD_APP, str(data_dir)), 1),
                  "qt_bare_start_ms": round(child_start_ms(CHILD_BARE, ""), 1)}
        # The app runs in its own process so its peak memory is the app's, not the seeding's.
        out = subprocess.run([sys.executable, "-P", str(Path(__file__).resolve()), "--measure-app", str(data_dir)],
                             capture_output=True, text=True, timeout=600,
                             env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
        if out.returncode != 0:
            raise SystemExit(f"app measurement failed: {out.stderr[-2000:]}")
        result.update(json.loads(out.stdout.strip().splitlines()[-1]))
        result["qt_proxy_filter_ms_p95"] = measure_qt_proxy_filter(data_dir, result.pop("filter_ops"))
        result["targets"] = {"start_to_unlock_ms": 1500, "filter_ms_p95": 50, "open_task_ms": 100,
                             "max_rss_mb": 300}
        if args.json:
            print(json.dumps(result))
        else:
            for key, value in result.items():
                print(f"{key:>24}: {value}")
        return 0
    finally:
        if not args.dir:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip interpreter teardown of Qt objects: the figures are printed
