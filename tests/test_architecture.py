"""The design cannot rot quietly: layer contracts and module size."""

from __future__ import annotations

import ast
import json
import os
import re
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
    ("app/services/sync.py", "from sync.central import db", "The desktop app does not import the central"),
    ("app/cli/demo.py", "from sync.central.embedded import EmbeddedCentral",
     "The desktop app does not import the central"),
    ("sync/protocol.py", "from sync.central import db",
     "Only the central itself and the demo's one module import sync.central"),
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


# Where SQL may be written: the workstation's store and the central's database modules.
SQL_HOMES = ("app/store", "sync/central")
# Where it may not, named one by one so a folder cannot drop out of the scan unnoticed.
SQL_FREE = ("app/__init__.py", "app/cli", "app/services", "app/ui", "sync", "forms")
SQL_STATEMENT = re.compile(
    r"\b(SELECT\b.*\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
    r"CREATE\s+(TABLE|INDEX|TRIGGER|VIEW)|DROP\s+(TABLE|INDEX|TRIGGER|VIEW)|PRAGMA\s+\w+|WHERE\s+\w+)", re.S)


def sql_statements(path: Path) -> list[tuple[int, str]]:
    """The string literals (f-strings and implicitly joined pieces included) in ``path`` that are SQL."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    f_string_parts = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    for node in ast.walk(tree):
        if id(node) in f_string_parts:
            continue
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        if SQL_STATEMENT.search(text):
            found.append((node.lineno, " ".join(text.split())[:80]))
    return found


def python_files(*roots: str, tree: Path = ROOT) -> set[Path]:
    files = set()
    for root in roots:
        path = tree / root
        files |= {path} if path.suffix == ".py" else set(path.rglob("*.py"))
    return files


def sql_outside_its_homes(tree: Path) -> dict[str, list[tuple[int, str]]]:
    """Per module of ``tree`` that may hold no SQL: the SQL statements it holds all the same."""
    found = {}
    for path in sorted(python_files(*SQL_FREE, tree=tree) - python_files(*SQL_HOMES, tree=tree)):
        statements = sql_statements(path)
        if statements:
            found[str(path.relative_to(tree).as_posix())] = statements
    return found


def test_every_module_is_either_a_sql_home_or_scanned_for_sql():
    homes, scanned = python_files(*SQL_HOMES), python_files(*SQL_FREE) - python_files(*SQL_HOMES)
    assert python_files("app", "sync", "forms") == homes | scanned


def test_no_sql_outside_the_store_and_the_central():
    found = sql_outside_its_homes(ROOT)
    assert found == {}, f"SQL outside app/store and sync/central (put it in a named store function): {found}"


@pytest.mark.parametrize(("path", "statement"), [
    ("app/services/tasks.py", 'store.db.execute("SELECT * FROM tasks WHERE task_id = ?", [task_id])'),
    ("app/services/patients.py", 'f"SELECT count(*) FROM patients WHERE {where}"'),
    ("app/cli/tasks.py", '"DELETE FROM events"'),
    ("app/ui/board.py", '"UPDATE tasks SET status = ?"'),
])
def test_sql_check_fails_on_sql_written_outside_the_store(tmp_path, path, statement):
    """The check is real: the same tree with one statement added to a module outside the store fails it."""
    for folder in ("app", "sync", "forms"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    assert sql_outside_its_homes(tmp_path) == {}
    target = tmp_path / path
    target.write_text(target.read_text() + f"\n\ndef deliberate_violation(store, task_id, where):\n"
                                            f"    return {statement}\n")
    found = sql_outside_its_homes(tmp_path)
    assert list(found) == [path], found
    assert len(found[path]) == 1


def test_sql_check_sees_sql(tmp_path):
    """The pattern knows the statements we write: a check that matches nothing would pass forever."""
    module = tmp_path / "violation.py"
    module.write_text('''
def f(db, where, n):
    db.execute("SELECT task_id FROM tasks WHERE status = ?", ["ready"])
    db.execute("INSERT OR REPLACE INTO meta (key, value)"
               " VALUES (?, ?)", ["a", "b"])
    db.execute(f"UPDATE tasks SET status = 'done' {where}")
    db.execute("DELETE FROM patients")
    db.iter_bodies("WHERE type IN ('access.view')")
    label = "Select the patient from the census"  # words, not SQL
''')
    assert [line for line, _ in sql_statements(module)] == [3, 4, 6, 7, 8]
    assert sql_statements(ROOT / "app/store/outbox.py"), "the store's outbox has SQL the check must see"


BENCHMARKS = ROOT / "benchmarks"


def test_benchmark_scripts_shadow_no_module():
    """`python benchmarks/NAME.py` puts benchmarks/ first on sys.path: NAME must not hide a module the
    script (or anything it imports) needs, such as our `sync` or an installed `httpx`."""
    stems = sorted(script.stem for script in BENCHMARKS.glob("*.py"))
    assert stems, "no benchmarks found"
    # A fresh interpreter as the script gets it, minus the script's folder (-I: no cwd, no PYTHON* env),
    # so this test's own sys.path (tests/, the checkout) cannot make a name look taken or free.
    probe = ("import importlib.util, json, sys; names = json.loads(sys.argv[1]); print(json.dumps(sorted("
             "n for n in names if n in sys.stdlib_module_names or importlib.util.find_spec(n) is not None)))")
    proc = subprocess.run([sys.executable, "-I", "-c", probe, json.dumps(stems)], cwd=BENCHMARKS.parent.parent,
                          capture_output=True, text=True, timeout=60, check=True)
    shadowing = sorted(set(json.loads(proc.stdout)) | {s for s in stems if s in {"app", "sync", "forms"}})
    assert shadowing == [], f"rename these benchmarks: each hides an importable module of the same name: {shadowing}"


def test_docs_run_benchmarks_without_dash_p():
    """No `python -P`: with no shadowing name it is not needed, and docs must show the one way to run them."""
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(BENCHMARKS.glob("*.py"))]
    stale = [str(p.relative_to(ROOT)) for p in texts if re.search(r"python3? -P\b", p.read_text(encoding="utf-8"))]
    assert stale == []
