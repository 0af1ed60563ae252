"""The screenshot script runs the real app under Xvfb and saves every main screen at 1366x768."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QImage

ROOT = Path(__file__).resolve().parents[2]
WINDOW_SHOTS = ["01-unlock", "02-unlock-wrong-password", "03-board", "04-capture-required-fields",
                "06-capture-medication-reconciliation", "07-task-detail", "09-training-board"]
DIALOG_SHOTS = ["05-temporary-patient-similar-name", "08-print"]


def test_screenshots_of_every_main_screen_under_xvfb(tmp_path):
    assert shutil.which("xvfb-run"), "xvfb-run is needed (apt-get install xvfb xauth; .ci/run installs it)"
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}  # the real X11 platform
    out = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1920x1080x24", sys.executable, "-P",
                          str(ROOT / "benchmarks" / "screenshots.py"), "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    for name in WINDOW_SHOTS:
        image = QImage(str(tmp_path / f"{name}.png"))
        assert (image.width(), image.height()) == (1366, 768), name
    for name in DIALOG_SHOTS:
        image = QImage(str(tmp_path / f"{name}.png"))
        assert image.width() >= 500 and image.height() >= 300, name
