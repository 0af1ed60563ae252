"""One error tree: every error Tideover raises on purpose is a TideoverError with a kind; both commands
turn kinds into exit codes from one table, the central into HTTP statuses from one table; anything
else is a bug and surfaces as one (a traceback, exit 70), never as a refusal."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import app
import forms
import sync
from app import cli as tideover_cli
from forms.errors import FormError, OverlayError, UnknownWorkflow, WorkflowDisabled
from sync.central import cli as central_cli
from sync.central.errors import HTTP_STATUS, Refused
from sync.errors import TideoverError
from sync.exit_codes import EXIT_BUG, EXIT_CODES, EXIT_INTEGRITY, EXIT_REFUSED

ROOT = Path(__file__).resolve().parent.parent


def error_classes(*packages) -> list[type[TideoverError]]:
    """Every TideoverError subclass defined in the modules of ``packages`` (each module imported)."""
    for package in packages:
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".migrations." not in info.name + "." and not info.name.endswith(".__main__"):
                importlib.import_module(info.name)
    prefixes = tuple(p.__name__ + "." for p in packages)
    found, todo = set(), [TideoverError]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo.extend(cls.__subclasses__())
    return sorted((c for c in found if c.__module__.startswith(prefixes)), key=lambda c: c.__qualname__)


def missing_kinds(table: dict[str, int], classes) -> list[str]:
    return sorted({f"{c.__module__}.{c.__qualname__} ({c.kind})" for c in classes if c.kind not in table})


ALL_ERRORS = error_classes(app, sync, forms)
CENTRAL_ERRORS = error_classes(sync, forms)  # what the central (sync.central and the sync core) can raise


def test_the_tree_is_found_whole():
    names = {c.__name__ for c in ALL_ERRORS}
    assert {"TideoverError", "FormError", "OverlayError", "StoreError", "Refused", "Contradicts",
            "InputError", "SyncError", "StylesheetMissing", "ChainBroken"} <= names


def test_every_kind_has_an_exit_code():
    assert missing_kinds(EXIT_CODES, ALL_ERRORS) == []


def test_every_kind_the_central_raises_has_an_http_status():
    assert missing_kinds(HTTP_STATUS, CENTRAL_ERRORS) == []


def test_a_new_kind_left_out_of_either_table_fails_the_check():
    """Deliberate violation: an error class whose kind the tables do not name."""

    class WardFlooded(TideoverError):
        kind = "ward_flooded"

    assert missing_kinds(EXIT_CODES, [*ALL_ERRORS, WardFlooded]) == [f"{__name__}.{WardFlooded.__qualname__} "
                                                                     f"(ward_flooded)"]
    assert missing_kinds(HTTP_STATUS, [WardFlooded]) != []
    # And a table that drops a kind in use is caught too.
    short = {k: v for k, v in EXIT_CODES.items() if k != "chain_broken"}
    assert any("(chain_broken)" in m for m in missing_kinds(short, ALL_ERRORS))


def test_forms_errors_are_in_the_tree_and_still_value_errors():
    for cls in (FormError, UnknownWorkflow, WorkflowDisabled, OverlayError):
        assert issubclass(cls, TideoverError) and issubclass(cls, ValueError)
    assert len({FormError.kind, UnknownWorkflow.kind, WorkflowDisabled.kind, OverlayError.kind}) == 4


def test_the_central_answers_every_refusal_with_its_table_status():
    for cls in (c for c in CENTRAL_ERRORS if issubclass(c, Refused)):
        if cls.__init__ is Refused.__init__:
            assert cls("some_code", "why").status == HTTP_STATUS[cls.kind]


def _raising(kind: str, exc: BaseException | None = None):
    """A parser with one command that raises ``exc`` or a TideoverError of ``kind``."""
    err_cls = type("Raised", (TideoverError,), {"kind": kind})

    def run(*_args):
        raise exc if exc is not None else err_cls(f"a {kind} error")

    def build_parser():
        parser = argparse.ArgumentParser()
        parser.add_argument("--data-dir")
        parser.add_argument("--user")
        parser.add_argument("--break-glass-reason")
        sub = parser.add_subparsers(dest="command")
        sub.add_parser("boom").set_defaults(run=run)
        return parser

    return build_parser


@pytest.mark.parametrize("kind", sorted(EXIT_CODES))
def test_both_commands_give_the_same_exit_code_for_every_kind(monkeypatch, capsys, kind):
    monkeypatch.setattr(tideover_cli, "build_parser", _raising(kind))
    monkeypatch.setattr(central_cli, "build_parser", _raising(kind))
    assert tideover_cli.main(["boom"]) == central_cli.main(["boom"]) == EXIT_CODES[kind]
    err = capsys.readouterr().err
    assert f"tideover: a {kind} error" in err and f"tideover-central: a {kind} error" in err
    assert "Traceback" not in err


def test_an_integrity_failure_is_4_in_both():
    assert EXIT_CODES["chain_broken"] == EXIT_CODES["bad_signature"] == EXIT_INTEGRITY == 4
    assert central_cli.EXIT_BROKEN == tideover_cli.EXIT_AUDIT == 4


@pytest.mark.parametrize("bug", [ValueError("boom"), KeyError("boom"), TypeError("boom"), AttributeError("boom")])
@pytest.mark.parametrize("command", [tideover_cli, central_cli], ids=["tideover", "tideover-central"])
def test_a_bug_is_a_traceback_and_its_own_exit_code_not_a_refusal(monkeypatch, capsys, command, bug):
    monkeypatch.setattr(command, "build_parser", _raising("unused", bug))
    code = command.main(["boom"])
    assert code == EXIT_BUG and code != EXIT_REFUSED
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and f"{type(bug).__name__}: " in err and "bug" in err


def test_a_command_module_that_fails_to_import_stops_tideover_loudly():
    """No command is left out quietly: a module that cannot be imported is a traceback, not a smaller CLI."""
    probe = "import sys; sys.modules['app.cli.syncing'] = None; import app.cli"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode != 0 and "app.cli.syncing" in proc.stderr and "Traceback" in proc.stderr
    assert {"sync", "enroll"} <= set(tideover_cli.build_parser()._subparsers._group_actions[0].choices)


@pytest.mark.parametrize(("blocked", "loud"), [("PySide6", False), ("app.ui.board", True)])
def test_the_launcher_says_no_desktop_app_only_when_qt_is_absent(tmp_path, blocked, loud):
    probe = (f"import sys; sys.modules[{blocked!r}] = None; from app.cli import launcher; "
             f"sys.exit(launcher.launch_gui(None))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={"QT_QPA_PLATFORM": "offscreen", "PATH": "", "HOME": str(tmp_path)})
    assert proc.returncode != 0
    if loud:  # a module of the app itself is broken: a bug, shown as one
        assert "Traceback" in proc.stderr and "app.ui.board" in proc.stderr
    else:  # a headless install: one line
        assert "not available in this build" in proc.stderr and "Traceback" not in proc.stderr
