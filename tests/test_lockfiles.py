"""The lock files pin every package the project asks for, each with hashes: a dependency added to
pyproject.toml without locking it again fails here, before a build or CI installs something unpinned."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-").replace(".", "-")


def locked(lock_text: str) -> dict[str, list[str]]:
    """Package name -> its hashes, from a pip-compile --generate-hashes lock file."""
    out: dict[str, list[str]] = {}
    current = None
    for line in lock_text.splitlines():
        if re.match(r"^[A-Za-z0-9]", line):
            current = _name(line.split("==")[0])
            out[current] = []
        elif current and "--hash=sha256:" in line:
            out[current].append(line.split("--hash=sha256:")[1].split()[0])
    return out


def problems(pyproject_text: str, lock_text: str, extras: tuple[str, ...]) -> list[str]:
    project = tomllib.loads(pyproject_text)["project"]
    wanted = list(project["dependencies"])
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    pins = locked(lock_text)
    out = [f"{_name(r)} is not in the lock file" for r in wanted if _name(r) not in pins]
    out += [f"{name} has no hashes" for name, hashes in pins.items() if not hashes]
    return out


@pytest.mark.parametrize(("lock", "extras"), [("requirements.lock", ()),
                                              ("requirements-dev.lock", ("dev", "build"))])
def test_every_dependency_is_locked_with_hashes(lock, extras):
    assert problems((ROOT / "pyproject.toml").read_text(), (ROOT / lock).read_text(), extras) == []


def test_a_dependency_added_without_locking_is_caught():
    """The deliberate violation: the check above would let an unpinned package through without this."""
    pyproject = (ROOT / "pyproject.toml").read_text().replace('dependencies = [\n', 'dependencies = [\n  "wardbell>=1",\n', 1)
    assert problems(pyproject, (ROOT / "requirements.lock").read_text(), ()) == ["wardbell is not in the lock file"]


def test_a_pin_without_hashes_is_caught():
    lock = (ROOT / "requirements.lock").read_text() + "\nwardbell==1.0\n    # via nothing\n"
    assert problems((ROOT / "pyproject.toml").read_text(), lock, ()) == ["wardbell has no hashes"]

