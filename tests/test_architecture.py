"""The design cannot rot quietly: layer contracts and module size."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    proc = subprocess.run([sys.executable, "-m", "importlinter.cli", "--config", str(ROOT / "pyproject.toml")],
                          cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0 and "No module named importlinter.cli" in proc.stderr:
        proc = subprocess.run(["lint-imports", "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                              capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "BROKEN" not in proc.stdout


def test_qt_only_in_app_ui():
    offenders = []
    for folder in ("sync", "forms", "app/store", "app/services"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            if "PySide6" in text or "shiboken6" in text:
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_no_sql_outside_the_store_and_the_central():
    offenders = []
    for folder in ("app/ui", "app/cli", "forms"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            for keyword in ("SELECT ", "INSERT INTO", "UPDATE tasks", "DELETE FROM"):
                if keyword in text:
                    offenders.append(f"{path.relative_to(ROOT)}: {keyword.strip()}")
    assert offenders == []
