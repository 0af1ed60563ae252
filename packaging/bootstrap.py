#!/usr/bin/env python3
"""Create or reuse the checkout's virtual environment, install Tideover into it, run a command.

    python3 packaging/bootstrap.py tideover demo          # the Quick start's first command
    python3 packaging/bootstrap.py --dev bash .ci/test    # what .ci/run does

Why this exists: Debian 12's and Ubuntu 23.04+'s own ``python3`` refuse ``pip install`` outside a
virtual environment (PEP 668, "externally-managed-environment"). This script never installs into
the Python that runs it: it makes ``<checkout>/.venv`` (or reuses it), installs the project there in
editable mode, and runs the command with that venv first on ``PATH``, as ``activate`` would.

Where the project has lock files (``requirements.lock``; ``requirements-dev.lock`` with ``--dev``)
their exact, hash-checked versions are installed first (``pip install --require-hashes``), then the
project itself. The install is skipped when nothing it depends on changed (a stamp of ``pyproject.toml``, the
extras asked for and the venv's Python), so a second run starts at once. Standard library only: it
runs before anything is installed. Afterwards ``. .venv/bin/activate`` puts ``tideover`` on PATH.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
STAMP_NAME = "tideover-install.stamp"


class BootstrapError(Exception):
    """A step of the bootstrap failed; the message says what to do."""


def venv_python(env_dir: Path) -> Path:
    """The interpreter inside a venv, on POSIX and on Windows."""
    if os.name == "nt":
        return env_dir / "Scripts" / "python.exe"
    return env_dir / "bin" / "python"


def venv_bin(env_dir: Path) -> Path:
    return venv_python(env_dir).parent


def _ensurepip_available(python: str) -> bool:
    probe = subprocess.run([python, "-c", "import ensurepip"], capture_output=True)
    return probe.returncode == 0


def _install_venv_package() -> None:
    """Debian/Ubuntu ship venv's pip bootstrap apart (python3-venv); install it when we may."""
    apt = shutil.which("apt-get")
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    package = f"python{version}-venv"
    if not (apt and is_root):
        raise BootstrapError(
            f"this Python cannot create a virtual environment with pip (ensurepip is missing). "
            f"On Debian or Ubuntu run: sudo apt-get install {package}   then run this command again."
        )
    print(f"bootstrap: installing Debian's {package} (ensurepip is missing)", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run([apt, "update", "-q"], check=True, env=env)
    subprocess.run([apt, "install", "-y", "-q", package], check=True, env=env)


def ensure_venv(env_dir: Path) -> Path:
    """Create ``env_dir`` as a venv with pip unless a working one is already there."""
    python = venv_python(env_dir)
    if python.exists():
        probe = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True)
        if probe.returncode == 0:
            return python
        print(f"bootstrap: {env_dir} is broken (no working pip); making it again", file=sys.stderr)
        shutil.rmtree(env_dir)
    if not _ensurepip_available(sys.executable):
        _install_venv_package()
    print(f"bootstrap: creating the virtual environment {env_dir}", file=sys.stderr)
    try:
        venv.EnvBuilder(with_pip=True, clear=False, symlinks=os.name != "nt").create(env_dir)
    except (subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(env_dir, ignore_errors=True)
        raise BootstrapError(f"could not create {env_dir}: {exc}") from exc
    return python


def install_stamp(project: Path, extras: list[str], python: Path) -> str:
    """What the installed state depends on: the project's metadata, the extras, the interpreter."""
    digest = hashlib.sha256()
    digest.update((project / "pyproject.toml").read_bytes())
    for name in ("requirements.lock", "requirements-dev.lock"):
        lock = project / name
        if lock.exists():
            digest.update(lock.read_bytes())
    digest.update(",".join(sorted(extras)).encode())
    version = subprocess.run(
        [str(python), "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True
    ).stdout
    digest.update(version.encode())
    return digest.hexdigest()


def ensure_installed(project: Path, env_dir: Path, python: Path, extras: list[str]) -> None:
    stamp_file = env_dir / STAMP_NAME
    wanted = install_stamp(project, extras, python)
    if stamp_file.exists() and stamp_file.read_text().strip() == wanted:
        return
    target = str(project) + (f"[{','.join(extras)}]" if extras else "")
    lock = project / ("requirements-dev.lock" if extras else "requirements.lock")
    if lock.exists():
        # The exact, hash-checked versions first; the project's own install then finds them in place.
        print(f"bootstrap: installing the locked packages of {lock.name} into {env_dir}", file=sys.stderr)
        command = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--require-hashes",
                   "-r", str(lock)]
        result = subprocess.run(command)
        if result.returncode != 0:
            raise BootstrapError(f"pip could not install the locked packages of {lock} into {env_dir} "
                                 f"(exit {result.returncode})")
    print(f"bootstrap: installing {target} into {env_dir}", file=sys.stderr)
    command = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-e", target]
    result = subprocess.run(command)
    if result.returncode != 0:
        raise BootstrapError(f"pip could not install {target} into {env_dir} (exit {result.returncode})")
    stamp_file.write_text(wanted + "\n")


def activated_environment(env_dir: Path) -> dict[str, str]:
    """The environment ``activate`` would give: the venv first on PATH, VIRTUAL_ENV set."""
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = str(env_dir)
    env["PATH"] = str(venv_bin(env_dir)) + os.pathsep + env.get("PATH", "")
    env.pop("PYTHONHOME", None)
    return env


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bootstrap.py",
        description="Create or reuse <checkout>/.venv, install Tideover into it, run COMMAND from it.",
    )
    parser.add_argument("--dev", action="store_true", help="also install the test and lint tools")
    parser.add_argument("--venv", type=Path, help="the venv folder (default: <project>/.venv)")
    parser.add_argument("--project", type=Path, default=CHECKOUT, help=argparse.SUPPRESS)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="what to run, e.g. tideover demo")
    args = parser.parse_args(argv)
    project = args.project.resolve()
    env_dir = (args.venv or project / ".venv").resolve()
    try:
        python = ensure_venv(env_dir)
        ensure_installed(project, env_dir, python, ["dev"] if args.dev else [])
    except BootstrapError as exc:
        print(f"bootstrap: {exc}", file=sys.stderr)
        return 2
    if not args.command:
        print(f"bootstrap: ready. Activate with:  . {env_dir / 'bin' / 'activate'}", file=sys.stderr)
        return 0
    env = activated_environment(env_dir)
    executable = shutil.which(args.command[0], path=env["PATH"])
    if executable is None:
        print(f"bootstrap: no command {args.command[0]!r} in {venv_bin(env_dir)} or on PATH", file=sys.stderr)
        return 127
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "nt":
        return subprocess.run([executable, *args.command[1:]], env=env).returncode
    os.execve(executable, [executable, *args.command[1:]], env)  # signals go straight to the command


if __name__ == "__main__":
    sys.exit(run())
