"""PySide6 6.12 on CPython 3.11 aborts the app mid-shift; the app refuses that combination at start."""

from __future__ import annotations

import pytest

from app.ui import compat
from app.ui.main import run_app


@pytest.mark.parametrize("pyside, python", [((6, 12, 0), (3, 11, 7)), ((6, 12, 0), (3, 11, 0)),
                                            ((6, 12, 3), (3, 11, 9)), ((6, 12, 0), (3, 10, 14))])
def test_pyside_6_12_on_python_before_3_12_is_refused_with_what_to_install(pyside, python):
    problem = compat.startup_problem(pyside, python, "cpython")
    assert problem is not None and "\n" not in problem
    assert 'PySide6-Essentials<6.12' in problem and f"{python[0]}.{python[1]}" in problem


@pytest.mark.parametrize("pyside, python, implementation", [
    ((6, 11, 3), (3, 11, 7), "cpython"),   # what the pin installs
    ((6, 8, 0), (3, 11, 7), "cpython"),
    ((6, 12, 0), (3, 12, 0), "cpython"),   # None and True are immortal from 3.12 on
    ((6, 12, 0), (3, 13, 1), "cpython"),
    ((6, 13, 0), (3, 11, 7), "cpython"),
    ((6, 12, 0), (3, 11, 7), "pypy"),      # no reference counts in object headers
])
def test_other_combinations_start(pyside, python, implementation):
    assert compat.startup_problem(pyside, python, implementation) is None


def test_this_installation_is_not_the_bad_combination():
    assert compat.startup_problem(*compat.running_versions()) is None


def test_the_app_exits_non_zero_with_one_line_on_the_bad_combination(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.setattr(compat, "running_versions", lambda: ((6, 12, 0), (3, 11, 7), "cpython"))

    class Args:
        data_dir, user = str(tmp_path), ""

    assert run_app(Args()) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "PySide6-Essentials<6.12" in err[0]
