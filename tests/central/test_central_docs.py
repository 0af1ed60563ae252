"""Every `tideover-central` command has help and is documented in docs/central.md, as are the
workstation's sync commands: the documentation cannot drift from the code."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.cli import build_parser as workstation_parser
from sync.central.cli import build_parser as central_parser

DOCS = (Path(__file__).resolve().parents[2] / "docs" / "central.md").read_text()


def leaves(parser: argparse.ArgumentParser, words=()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield words, parser
        return
    for name, sub in subs[0].choices.items():
        yield from leaves(sub, (*words, name))


def test_every_central_command_is_documented():
    missing = [" ".join(w) for w, p in leaves(central_parser())
               if not p.format_help() or f"tideover-central {' '.join(w)}" not in DOCS]
    assert not missing


def test_the_sync_commands_are_documented():
    sync_words = {"enroll", "sync", "bundle"}
    missing = [" ".join(w) for w, _p in leaves(workstation_parser())
               if w and w[0] in sync_words and f"tideover {' '.join(w)}" not in DOCS]
    assert not missing
