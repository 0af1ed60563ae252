"""The README's test command (.ci/test) fails the run when ruff or lint-imports fails, and still ends
with pytest's summary and pytest's own exit code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def tree(tmp_path):
    """A copy of the checkout's code with one trivial test, so running .ci/test on it is quick."""
    for folder in ("app", "sync", "forms"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "test", tmp_path / ".ci" / "test")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_one.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    return tmp_path


def ci_test(tree: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(["bash", str(tree / ".ci" / "test"), "tests"], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=600)


def last_line(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout.strip().splitlines()[-1]


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_a_clean_tree_passes(tree):
    proc = ci_test(tree)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in last_line(proc)
    assert "kept, 0 broken" in proc.stdout  # lint-imports ran


def test_a_ruff_finding_fails_the_run_after_the_tests(tree):
    append(tree / "sync" / "events.py", "\n\ndef unused():\n    import os\n")  # F401
    proc = ci_test(tree)
    assert proc.returncode == 1
    assert "LINT FAILED: ruff" in proc.stderr
    assert "1 passed" in last_line(proc)


def test_a_broken_import_contract_fails_the_run_after_the_tests(tree):
    append(tree / "forms" / "__init__.py", "\n\ndef reach_up():\n    import app.store  # noqa: F401\n")
    proc = ci_test(tree)
    assert proc.returncode == 1
    assert "LINT FAILED: lint-imports" in proc.stderr
    assert "sync and forms never import the desktop app BROKEN" in proc.stdout
    assert "1 passed" in last_line(proc)


def test_pytest_exit_code_is_what_the_run_returns(tree):
    append(tree / "tests" / "test_one.py", "\n\ndef test_two():\n    assert 1 + 1 == 3\n")
    proc = ci_test(tree)
    assert proc.returncode == 1
    assert "1 failed, 1 passed" in last_line(proc)
    (tree / "tests" / "test_one.py").unlink()
    proc = ci_test(tree)
    assert proc.returncode == 5  # no tests: .ci/run turns this into a failure
