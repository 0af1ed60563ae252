"""The design cannot rot quietly: layer contracts and module size."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    """Run import-linter's own command on ``tree`` (its pyproject.toml, its packages found from cwd).

    The console script next to this Python, not ``python -m importlinter.cli``: that module has no
    ``__main__``, so it exits 0 having checked nothing."""
    script = Path(sys.executable).parent / ("lint-imports.exe" if os.name == "nt" else "lint-imports")
    assert script.exists(), f"{script} is missing: install the dev tools (packaging/bootstrap.py --dev)"
    return subprocess.run([str(script), "--no-cache", "--no-logo", str(tree / "pyproject.toml")], cwd=tree,
                          capture_output=True, text=True, timeout=300)


def test_import_contracts_hold():
    proc = lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Every contract in pyproject.toml was checked and kept: none skipped, none silently dropped.
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in proc.stdout, proc.stdout
    for contract in CONTRACTS:
        assert f"{contract['name']} KEPT" in proc.stdout


@pytest.mark.parametrize(("path", "forbidden_import", "contract"), [
    ("sync/events.py", "import PySide6", "Qt lives only in app.ui"),
    ("app/services/tasks.py", "from PySide6 import QtCore", "Qt lives only in app.ui"),
    ("forms/__init__.py", "import app.store", "sync and forms never import the desktop app"),
    ("sync/protocol.py", "import app.services.sync", "sync and forms never import the desktop app"),
    ("app/store/outbox.py", "import app.services.tasks", "Layers: ui -> services -> store -> sync -> forms"),
    ("sync/events.py", "import app.store", "Layers: ui -> services -> store -> sync -> forms"),
    ("app/ui/board.py", "from app.store import outbox",
     "The UI reaches the store and the network only through app.services"),
    ("app/ui/sync_runner.py", "import httpx", "The UI reaches the store and the network only through app.services"),
    # Only the launcher may hand over to the desktop app; any other CLI route to Qt is a break.
    ("app/cli/tasks.py", "import app.ui.board", "Qt lives only in app.ui"),
    ("app/cli/tasks.py", "import app.ui.board", "The UI and the CLI do not import each other"),
    ("app/ui/board.py", "from app.cli import common", "The UI and the CLI do not import each other"),
])
def test_import_contracts_fail_on_a_forbidden_import(tmp_path, path, forbidden_import, contract):
    """The check is real: the same tree with one forbidden import added breaks the named contract."""
    assert contract in {c["name"] for c in CONTRACTS}, f"no contract named {contract!r} in pyproject.toml"
    for folder in ("app", "sync", "forms"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / path
    target.write_text(target.read_text() + f"\n{forbidden_import}  # deliberate violation\n")
    proc = lint_imports(tmp_path)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert f"{contract} BROKEN" in proc.stdout, proc.stdout


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
