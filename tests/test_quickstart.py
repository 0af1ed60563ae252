"""The Quick start installs into the checkout's venv, never into the Python that runs it (PEP 668).

Debian 12's and Ubuntu 23.04+'s own python3 refuse `pip install` outside a venv. These tests run
the real `packaging/bootstrap.py` with an externally managed Python where the machine has one
(Debian's /usr/bin/python3), on a tiny project whose in-tree build backend needs nothing from the
network, and check that the README and `.ci/run` go through it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP = ROOT / "packaging" / "bootstrap.py"

TINY_BACKEND = '''
"""A PEP 517/660 backend in 40 lines: enough for pip to install this project without the network."""
import base64, hashlib, zipfile

NAME, VERSION = "wardprobe", "1.0"
DIST = f"{NAME}-{VERSION}.dist-info"

def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"

def _wheel(directory, files):
    name = f"{NAME}-{VERSION}-py3-none-any.whl"
    files[f"{DIST}/METADATA"] = f"Metadata-Version: 2.1\\nName: {NAME}\\nVersion: {VERSION}\\n".encode()
    files[f"{DIST}/WHEEL"] = b"Wheel-Version: 1.0\\nGenerator: tiny\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
    files[f"{DIST}/entry_points.txt"] = b"[console_scripts]\\nwardprobe = wardprobe:main\\n"
    record = [_record_line(path, data) for path, data in files.items()] + [f"{DIST}/RECORD,,"]
    files[f"{DIST}/RECORD"] = ("\\n".join(record) + "\\n").encode()
    with zipfile.ZipFile(f"{directory}/{name}", "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
    return name

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open("wardprobe.py", "rb") as module:
        return _wheel(wheel_directory, {"wardprobe.py": module.read()})

def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    import os
    return _wheel(wheel_directory, {"wardprobe.pth": (os.getcwd() + "\\n").encode()})

def get_requires_for_build_wheel(config_settings=None):
    return []

get_requires_for_build_editable = get_requires_for_build_wheel
'''

TINY_MODULE = '''
import sys

def main():
    print("prefix=" + sys.prefix)
'''


def _externally_managed_python() -> str:
    """Debian's own python3 where it is installed and marked (the case the Quick start must survive)."""
    for candidate in ("/usr/bin/python3", sys.executable):
        if not Path(candidate).exists():
            continue
        stdlib = subprocess.run(
            [candidate, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
            capture_output=True, text=True,
        ).stdout.strip()
        if stdlib and (Path(stdlib) / "EXTERNALLY-MANAGED").exists():
            return candidate
    return sys._base_executable  # no marked Python here: the base interpreter of this run


def _tiny_project(tmp_path: Path) -> Path:
    project = tmp_path / "checkout"
    project.mkdir()
    (project / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = []
        build-backend = "tinybackend"
        backend-path = ["."]

        [project]
        name = "wardprobe"
        version = "1.0"
    '''))
    (project / "tinybackend.py").write_text(TINY_BACKEND)
    (project / "wardprobe.py").write_text(TINY_MODULE)
    return project


def _bootstrap(python: str, project: Path, *command: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HOME=str(project.parent / "home"), PIP_NO_INDEX="1")
    env.pop("VIRTUAL_ENV", None)
    # The Python being tested comes first on PATH, as for a new user on a stock Debian machine.
    env["PATH"] = str(Path(python).parent) + os.pathsep + env.get("PATH", "")
    return subprocess.run(
        [python, str(BOOTSTRAP), "--project", str(project), *command],
        capture_output=True, text=True, env=env, timeout=300,
    )


def test_bootstrap_installs_into_the_checkouts_venv_and_runs_from_it(tmp_path):
    python = _externally_managed_python()
    project = _tiny_project(tmp_path)

    first = _bootstrap(python, project, "wardprobe")
    assert first.returncode == 0, first.stdout + first.stderr
    venv_dir = project / ".venv"
    assert f"prefix={venv_dir}" in first.stdout
    assert "installing" in first.stderr

    # Nothing reached the Python that ran the bootstrap.
    outside = subprocess.run([python, "-c", "import wardprobe"], capture_output=True, text=True,
                             cwd=tmp_path)
    assert outside.returncode != 0 and "No module named 'wardprobe'" in outside.stderr

    # Run again: the venv is reused and nothing is installed twice.
    second = _bootstrap(python, project, "wardprobe")
    assert second.returncode == 0, second.stderr
    assert "installing" not in second.stderr and "creating" not in second.stderr
    assert f"prefix={venv_dir}" in second.stdout

    # A changed pyproject.toml is installed again.
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'description = "changed"\n')
    third = _bootstrap(python, project, "wardprobe")
    assert third.returncode == 0, third.stderr
    assert "installing" in third.stderr


def test_bootstrap_reports_a_failed_install_and_runs_nothing(tmp_path):
    project = _tiny_project(tmp_path)
    (project / "tinybackend.py").write_text("raise SystemExit('backend broken on purpose')\n")
    result = _bootstrap(_externally_managed_python(), project, "wardprobe")
    assert result.returncode == 2
    assert "pip could not install" in result.stderr
    assert "prefix=" not in result.stdout
    assert not (project / ".venv" / "tideover-install.stamp").exists()


def test_pip_on_the_marked_python_refuses_what_the_bootstrap_avoids(tmp_path):
    """Why the bootstrap exists: on a PEP 668 Python a plain `pip install` is refused."""
    python = _externally_managed_python()
    stdlib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
                            capture_output=True, text=True).stdout.strip()
    if not (Path(stdlib) / "EXTERNALLY-MANAGED").exists():
        pytest.skip("no externally managed Python on this machine to show the refusal with")
    has_pip = subprocess.run([python, "-m", "pip", "--version"], capture_output=True).returncode == 0
    if not has_pip:
        pytest.skip("Debian's python3 here has no pip at all, so it cannot install anywhere")
    project = _tiny_project(tmp_path)
    refused = subprocess.run([python, "-m", "pip", "install", "--no-index", str(project)],
                             capture_output=True, text=True, cwd=tmp_path)
    assert refused.returncode != 0
    assert "externally-managed-environment" in refused.stdout + refused.stderr


def _quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_readme_quick_start_is_two_commands_through_the_venv():
    assert _quick_start_commands() == ["python3 packaging/bootstrap.py tideover demo", "bash .ci/run"]


def test_ci_installs_only_through_the_bootstrap():
    ci = (ROOT / ".ci" / "run").read_text()
    code = "\n".join(line for line in ci.splitlines() if not line.lstrip().startswith("#"))
    assert "packaging/bootstrap.py --dev" in code
    assert not re.search(r"pip3?\s+install", code), "the CI must not pip install outside the venv"


def test_this_test_run_is_inside_the_checkouts_venv_under_ci():
    """`.ci/run` runs the tests from <checkout>/.venv; this fails if it installed into the system Python."""
    if os.environ.get("CI") != "true":
        pytest.skip("only CI guarantees how the suite was started")
    assert sys.prefix != sys.base_prefix
    assert Path(sys.prefix).resolve() == (ROOT / ".venv").resolve()
    import app

    assert Path(app.__file__).resolve().is_relative_to(ROOT)
    assert sysconfig.get_path("purelib").startswith(str((ROOT / ".venv").resolve()))
