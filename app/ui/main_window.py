"""The window: banner on top, then one of unlock, board, capture or task detail; shortcuts; locking."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QDialog, QLabel, QMainWindow, QProgressBar, QStackedWidget, QVBoxLayout, QWidget

from app.services import access
from app.services import tasks as ts
from app.services import training as tr
from app.services.wording import age_text, error_text
from app.services.workstation import status
from sync.clock import Clock

from .banner import Banner, HeldBackDialog
from .board import BoardScreen
from .capture import CaptureScreen
from .print_jobs import PrintJobs
from .session import Session
from .sync_runner import SYNC_EVERY_MS, SyncRunner
from .task_detail import TaskDetailScreen
from .theme import named, set_role
from .unlock import UnlockScreen
from .watermark import Watermark

BANNER_REFRESH_MS = 30_000
BANNER_TICK_MS = 5_000  # repaints "last sync N s ago" from memory, without a store call
TRAINING_HINT = (f"TRAINING: practise with synthetic patients only. Sign in as nina (nurse), colm (unit "
                 f"coordinator) or sam (super-user); the password is '{tr.TRAINING_PASSWORD}'.")


class MainWindow(QMainWindow):
    def __init__(self, data_dir: Path, *, user: str = "", hint: str = "", sync_every_ms: int = SYNC_EVERY_MS,
                 clock: Clock | None = None):
        super().__init__()
        self.setWindowTitle("Tideover")
        self.setAccessibleName("Tideover")
        self.setMinimumSize(1024, 700)
        self.live_dir, self.live_hint, self.prefill_user = Path(data_dir), hint, user
        self.session = Session(self.live_dir, clock=clock, parent=self)
        self.syncer = SyncRunner(self.session, every_ms=sync_every_ms, parent=self)
        self._status: dict | None = None  # the store's last answer for the banner
        central = QWidget()
        box = QVBoxLayout(central)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        self.banner = Banner()
        box.addWidget(self.banner)
        self.stack = QStackedWidget()
        body = QWidget()
        body_box = QVBoxLayout(body)
        body_box.setContentsMargins(12, 8, 12, 8)
        body_box.addWidget(self.stack)
        box.addWidget(body, 1)
        self.setCentralWidget(central)
        self.unlock = UnlockScreen()
        self.board = BoardScreen(clock=self.session.clock)
        self.capture = CaptureScreen(self.session)
        self.detail = TaskDetailScreen(self.session)
        for screen in (self.unlock, self.board, self.capture, self.detail):
            self.stack.addWidget(screen)
        self.watermark = Watermark(central)
        self.watermark.hide()
        self.busy = named(QProgressBar(), "Working")
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(160)
        self.busy.hide()
        self.notice = named(QLabel(""), "Last message")
        self.statusBar().addWidget(self.notice, 1)
        self.statusBar().addPermanentWidget(self.busy)
        self.prints = PrintJobs(self, self.session, self.board, self.detail, self.notify)
        self.prints.renderer.busy_changed.connect(self.busy.setVisible)
        self._banner_timer = QTimer(self)
        self._banner_timer.timeout.connect(self.refresh_status)
        self._banner_tick = QTimer(self)
        self._banner_tick.timeout.connect(self.repaint_banner)
        self._connect()
        self._shortcuts()
        from PySide6.QtWidgets import QApplication

        QApplication.instance().installEventFilter(self)
        self.show_unlock()

    # -- wiring ------------------------------------------------------------------------------
    def _connect(self) -> None:
        s = self.session
        s.unlocked.connect(self._unlocked)
        s.locked.connect(self._locked)
        s.lock_failed.connect(lambda text: self.unlock.show_message(text, error=True))
        s.worker.busy_changed.connect(self.busy.setVisible)
        s.worker.failed.connect(lambda err: self.notify(error_text(err), True))
        self.unlock.unlock_requested.connect(lambda u, p: s.unlock(u, p, on_error=self.unlock.unlock_failed))
        self.unlock.break_glass_requested.connect(
            lambda code, reason, name: s.unlock_break_glass(code, reason, name, on_error=self.unlock.unlock_failed))
        self.unlock.training_toggled.connect(self.set_training)
        self.banner.lock_button.clicked.connect(lambda: s.lock("manual"))
        self.banner.held_back_requested.connect(self.show_held_back)
        self.syncer.changed.connect(self.refresh_status)
        self.syncer.pulled.connect(self._pulled)
        self.board.open_task.connect(self.open_task)
        self.board.new_task.connect(self.new_task)
        self.board.print_requested.connect(lambda: self.prints.open_dialog(prefer_task=False))
        self.capture.captured.connect(self._captured)
        self.capture.cancelled.connect(self.show_board)
        self.detail.back.connect(self.show_board)
        self.detail.changed.connect(self._task_changed)
        self.detail.print_requested.connect(lambda: self.prints.open_dialog(prefer_task=True))

    def _shortcuts(self) -> None:
        def on(keys: str, action) -> None:
            QShortcut(QKeySequence(keys), self, activated=action)

        on("Ctrl+N", self.new_task)
        on("Ctrl+F", self.find)
        on("Ctrl+P", self.print_current)
        on("Ctrl+L", lambda: self.session.lock("manual"))
        on("F5", self.reload_board)
        on("Ctrl+S", self.save_current)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt name
        # Every dialog of a training session carries the watermark too.
        if isinstance(watched, QDialog):
            if event.type() == QEvent.Type.Show and self.session.training and watched.findChild(Watermark) is None:
                Watermark(watched).show()
            elif event.type() == QEvent.Type.Hide and self.isVisible():
                self.activateWindow()  # keyboard shortcuts work again at once, whatever the window manager does
        return False

    # -- screens -----------------------------------------------------------------------------
    def show_unlock(self, message: str = "") -> None:
        self.banner.show_locked(training=self.session.training)
        self.unlock.prepare(user=self.prefill_user, hint=TRAINING_HINT if self.session.training else self.live_hint,
                            message=message)
        self.stack.setCurrentWidget(self.unlock)
        self.unlock.password.setFocus() if self.unlock.user.text() else self.unlock.user.setFocus()

    def show_board(self) -> None:
        if not self.session.is_unlocked:
            return
        self.stack.setCurrentWidget(self.board)
        self.board.table.setFocus()

    def new_task(self) -> None:
        if not self.session.is_unlocked:
            return
        self.capture.start()
        self.stack.setCurrentWidget(self.capture)
        self.capture.workflow.setFocus()

    def find(self) -> None:
        if not self.session.is_unlocked:
            return
        if self.stack.currentWidget() is self.capture:
            self.capture.picker.search.setFocus()
            return
        self.show_board()
        self.board.focus_search()

    def save_current(self) -> None:
        if self.session.is_unlocked and self.stack.currentWidget() is self.capture:
            self.capture.save()

    def print_current(self) -> None:
        if self.session.is_unlocked:
            self.prints.open_dialog(prefer_task=self.stack.currentWidget() is self.detail)

    def open_task(self, task_id: str) -> None:
        self.session.call(ts.show_task, task_id, on_done=self._show_detail)

    def _show_detail(self, task: dict) -> None:
        self.detail.show_task(task)
        self.stack.setCurrentWidget(self.detail)

    def notify(self, text: str, error: bool = False) -> None:
        set_role(self.notice, "error" if error else "")
        self.notice.setText(text)

    # -- session events ------------------------------------------------------------------------
    def _unlocked(self) -> None:
        self.unlock.unlocked()
        self.prefill_user = self.session.identity.get("user_id", self.prefill_user)
        self.watermark.setVisible(self.session.training)
        self.banner.show_mode(self.session.identity.get("mode", "downtime"))
        self.notify(f"Signed in as {self.session.identity.get('name')}.")
        self.reload_board()
        self.refresh_status()
        self._banner_timer.start(BANNER_REFRESH_MS)
        self._banner_tick.start(BANNER_TICK_MS)
        self.syncer.start()
        self.show_board()

    def _locked(self, why: str) -> None:
        self._banner_timer.stop()
        self._banner_tick.stop()
        self.syncer.stop()
        self._status = None
        for screen in (self.board, self.capture, self.detail):
            screen.clear()
        for dialog in self.findChildren(QDialog):
            dialog.reject()
        minutes = age_text(self.session.auto_lock_ms / 1000 if hasattr(self.session, "auto_lock_ms") else None)
        message = f"Locked after {minutes} without activity. Sign in again to go on." if why == "idle" else \
            "Locked. Sign in to go on."
        self.notify("")
        self.show_unlock(message)

    def reload_board(self) -> None:
        self.session.call(ts.view_board, on_done=self.board.load)  # a view of patient data: recorded

    def _pulled(self, _count: int) -> None:
        """Other workstations' events arrived: reload the board, keeping the row the person had selected."""
        keep = self.board.selected_task_id()
        self.session.call(ts.view_board, on_done=lambda rows: self._load_keeping(rows, keep))

    def _load_keeping(self, rows: list[dict], task_id: str | None) -> None:
        self.board.load(rows)
        model = self.board.model
        row = next((r for r in range(model.rowCount()) if model.task_at(r)["task_id"] == task_id), None)
        if row is not None:
            self.board.table.selectRow(row)

    def refresh_status(self) -> None:
        self.board.model.tick()
        self.session.call(status, on_done=self._show_status)

    def _show_status(self, st: dict) -> None:
        self._status = st
        self.repaint_banner()

    def repaint_banner(self) -> None:
        """Paint the banner from the store's last status and the background sync's state (no store call)."""
        if self._status is not None and self.session.is_unlocked:
            self.banner.show_status(dict(self.session.identity), self._status, now=self.session.clock.now(),
                                    link=self.syncer.state)

    def show_held_back(self) -> None:
        """The super-user's list of events the central would not take (others see the tooltip)."""
        if not access.may_supervise(self.session.identity.get("role")):
            self.notify("A super-user reviews held-back events; the list is in the tooltip.")
            return
        dialog = HeldBackDialog(self.syncer.state.held_back, self)
        dialog.open()

    def _captured(self, task_id: str) -> None:
        self.notify("Task saved on this workstation.")
        self.reload_board()
        self.refresh_status()
        self.open_task(task_id)
        self.syncer.sync_now()

    def _task_changed(self, task_id: str) -> None:
        self.notify("Status change saved.")
        self.reload_board()
        self.refresh_status()
        self.session.call(ts.show_task, task_id, record_view=False, on_done=self.detail.show_task)
        self.syncer.sync_now()

    # -- training ----------------------------------------------------------------------------
    def set_training(self, on: bool) -> None:
        """Switch the locked window between the live store and the training store (made on first use)."""
        if self.session.is_unlocked:
            return
        self.session.training = on
        self.session.data_dir = tr.training_dir(self.live_dir) if on else self.live_dir
        self.watermark.setVisible(on)
        self.watermark.raise_()
        if on and not tr.has_training_store(self.live_dir):
            self.unlock.set_busy(True)
            self.unlock.set_hint("Preparing the training ward with synthetic patients…")
            self.session.worker.run(tr.ensure_training_store, self.live_dir,
                                    on_done=lambda _p: self.show_unlock(),
                                    on_error=lambda err: self.show_unlock(error_text(err)))
            return
        self.show_unlock()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt name
        self.prints.renderer.wait()
        self.session.close_now()
        super().closeEvent(event)
