"""The data files the app reads at run time are in the wheel: a glob that matches nothing leaves a
wheel or a frozen build without its theme or its forms, found only when the app runs from it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from app.ui.theme import StylesheetMissing, load_stylesheet, stylesheet_path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DATA = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
# What the app cannot run without, as paths inside the wheel.
MUST_SHIP = ["app/ui/resources/tideover.qss", "forms/questionnaires/ed_triage.json",
             "app/store/dictionaries/events-1.zdict"]


@pytest.mark.parametrize(("package", "pattern"),
                         [(package, pattern) for package, patterns in PACKAGE_DATA.items() for pattern in patterns])
def test_every_package_data_glob_matches_a_file(package, pattern):
    folder = ROOT.joinpath(*package.split("."))
    assert sorted(folder.glob(pattern)), f"package-data {package}: {pattern!r} matches nothing in {folder}"


@pytest.mark.slow
def test_the_wheel_carries_the_stylesheet_and_the_forms(tmp_path):
    source = tmp_path / "src"
    for folder in ("app", "sync", "forms"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", "--disable-pip-version-check", "-w", str(tmp_path / "dist"), str(source)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = (tmp_path / "dist").glob("tideover-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert [path for path in MUST_SHIP if path not in names] == []
    assert any(name.startswith("app/ui/") for name in names)


def test_the_app_finds_its_packaged_stylesheet():
    assert stylesheet_path().is_relative_to(ROOT / "app" / "ui" / "resources")
    assert "QWidget" in load_stylesheet()


def test_a_missing_stylesheet_is_an_error_that_names_the_file(tmp_path):
    missing = tmp_path / "tideover.qss"
    with pytest.raises(StylesheetMissing, match="installation is incomplete: its stylesheet .*tideover.qss is missing"):
        load_stylesheet(missing)
