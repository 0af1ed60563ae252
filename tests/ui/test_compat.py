"""A long shift makes many thousands of Qt calls; on PySide6 6.12 + Python 3.11 that used to abort Python."""

from __future__ import annotations

import os
import subprocess
import sys

LONG_SHIFT = r"""
import app.ui  # the desktop app's package: pins None/True/False first
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QLabel
app = QApplication([])
label = QLabel()
class Relay(QObject):
    done = Signal(object)
relay = Relay()
relay.done.connect(lambda value: None)
for i in range(20000):
    label.setText(str(i))   # a void method: PySide6 6.12 drops a reference to None each time
    relay.done.emit(i)      # emit: it drops a reference to True each time
print("still running", label.text())
"""


def test_twenty_thousand_updates_and_signals_do_not_crash():
    out = subprocess.run([sys.executable, "-c", LONG_SHIFT], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr[-1500:]
    assert out.stdout.strip() == "still running 19999"
