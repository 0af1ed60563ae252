"""The unlock screen (user and password), and the break-glass dialog for emergencies."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.services.wording import error_text

from .theme import button_row, dialog_layout, hidden_message, named, set_role


class UnlockScreen(QWidget):
    """Who is signing in. Emits ``unlock_requested(user, password)``; the window does the unlocking."""

    unlock_requested = Signal(str, str)
    break_glass_requested = Signal(str, str, str)  # code, reason, name
    training_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("unlockScreen")
        self.failed_attempts = 0
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        card = QFrame()
        card.setMaximumWidth(620)
        box = QVBoxLayout(card)
        box.setSpacing(12)
        self.title = set_role(QLabel("Tideover: ward downtime workstation"), "title")
        self.where = set_role(QLabel("Sign in to capture and hand over tasks while the EHR is down."), "hint")
        self.where.setWordWrap(True)
        form = QFormLayout()
        self.user = named(QLineEdit(), "User name")
        self.user.setPlaceholderText("your user name")
        self.password = named(QLineEdit(), "Password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("your password")
        form.addRow("&User", self.user)
        form.addRow("&Password", self.password)
        self.unlock_button = named(set_role(QPushButton("&Unlock"), "primary"), "Unlock")
        self.unlock_button.setDefault(True)
        self.message = hidden_message("error", "Unlock message")
        self.attempts = named(set_role(QLabel(""), "warning"), "Failed attempts")
        self.attempts.hide()
        self.hint = named(set_role(QLabel(""), "ok"), "Sign-in hint")
        self.hint.setWordWrap(True)
        self.hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hint.hide()
        links = QHBoxLayout()
        self.break_glass_button = named(set_role(QPushButton("Emergency break-glass access…"), "link"),
                                        "Emergency break-glass access")
        self.training_button = named(set_role(QPushButton("Practise in training mode"), "link"),
                                     "Training mode")
        self.training_button.setCheckable(True)
        links.addWidget(self.break_glass_button)
        links.addStretch(1)
        links.addWidget(self.training_button)
        for w in (self.title, self.where):
            box.addWidget(w)
        box.addLayout(form)
        box.addWidget(self.unlock_button)
        for w in (self.message, self.attempts, self.hint):
            box.addWidget(w)
        box.addLayout(links)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(card, 3)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)
        self.unlock_button.clicked.connect(self._submit)
        self.password.returnPressed.connect(self._submit)
        self.user.returnPressed.connect(self.password.setFocus)
        self.break_glass_button.clicked.connect(self._break_glass)
        self.training_button.toggled.connect(self.training_toggled)
        self._retry = QTimer(self)
        self._retry.setSingleShot(True)
        self._retry.timeout.connect(lambda: self.unlock_button.setEnabled(True))

    def prepare(self, *, user: str = "", hint: str = "", message: str = "") -> None:
        """Show the screen fresh: password empty, focus where the person types next."""
        self.password.clear()
        if user:
            self.user.setText(user)
        self.set_hint(hint)
        self.show_message(message, error=False) if message else self.message.hide()
        self.unlock_button.setEnabled(True)
        (self.password if self.user.text() else self.user).setFocus()

    def set_hint(self, hint: str) -> None:
        self.hint.setText(hint)
        self.hint.setVisible(bool(hint))

    def set_busy(self, busy: bool) -> None:
        self.unlock_button.setEnabled(not busy)
        self.unlock_button.setText("Unlocking…" if busy else "&Unlock")

    def show_message(self, text: str, *, error: bool = True) -> None:
        set_role(self.message, "error" if error else "warning")
        self.message.setText(text)
        self.message.show()

    def unlock_failed(self, err: Exception) -> None:
        self.set_busy(False)
        kind = getattr(err, "kind", None)
        if kind in ("wrong_password", "account_locked", "too_soon"):
            self.failed_attempts += 1
            self.attempts.setText(f"Failed attempts on this screen: {self.failed_attempts}")
            self.attempts.show()
        self.show_message(error_text(err))
        if kind == "too_soon":
            self.unlock_button.setEnabled(False)
            self._retry.start(int(getattr(err, "retry_after", 1) * 1000) + 200)
        self.password.clear()
        self.password.setFocus()

    def unlocked(self) -> None:
        self.set_busy(False)
        self.failed_attempts = 0
        self.attempts.hide()
        self.message.hide()
        self.password.clear()

    def _submit(self) -> None:
        user, password = self.user.text().strip(), self.password.text()
        if not user or not password:
            self.show_message("Type your user name and your password, then press Enter.")
            (self.user if not user else self.password).setFocus()
            return
        self.set_busy(True)
        self.message.hide()
        self.unlock_requested.emit(user, password)

    def _break_glass(self) -> None:
        dialog = BreakGlassDialog(self)
        dialog.submitted.connect(self.break_glass_requested)
        dialog.open()
        self.break_glass_dialog = dialog


class BreakGlassDialog(QDialog):
    """Emergency access with the sealed code: who is using it and why, all recorded for review."""

    submitted = Signal(str, str, str)  # code, reason, name

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        box, form = dialog_layout(self, "Emergency break-glass access",
                                  "Use only in an emergency, when no one can sign in. Your name and reason "
                                  "are recorded and reviewed by a super-user.", role="warning")
        self.code = named(QLineEdit(), "Break-glass code")
        self.code.setPlaceholderText("code from the sealed envelope")
        self.name = named(QLineEdit(), "Your full name")
        self.reason = named(QPlainTextEdit(), "Reason for emergency access")
        self.reason.setTabChangesFocus(True)
        self.reason.setFixedHeight(90)
        form.addRow("&Code", self.code)
        form.addRow("Your &name", self.name)
        form.addRow("&Reason", self.reason)
        box.addLayout(form)
        self.message = hidden_message("error", "Break-glass message")
        box.addWidget(self.message)
        self.cancel = named(QPushButton("Cancel"), "Cancel break-glass")
        self.submit = named(set_role(QPushButton("Unlock with break-glass"), "primary"),
                            "Unlock with break-glass")
        button_row(box, self.cancel, self.submit)
        self.cancel.clicked.connect(self.reject)
        self.submit.clicked.connect(self._submit)

    def _submit(self) -> None:
        code, name, reason = self.code.text().strip(), self.name.text().strip(), self.reason.toPlainText().strip()
        missing = [label for label, value in (("the code", code), ("your name", name)) if not value]
        if len(reason) < 10:
            missing.append("a reason of at least 10 characters")
        if missing:
            self.message.setText("Break-glass needs " + ", ".join(missing) + ".")
            self.message.show()
            return
        self.submitted.emit(code, reason, name)
        self.accept()
