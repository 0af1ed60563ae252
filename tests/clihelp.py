"""Run the real ``tideover`` command in a subprocess, as IT scripts do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ADMIN_PASSWORD = "violet harbour lantern mist"
NURSE_PASSWORD = "quiet meadow under rain"


def tideover(data_dir: Path, *args: str, user: str = "ada", password: str = ADMIN_PASSWORD,
             env: dict | None = None, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "TIDEOVER_DATA_DIR": str(data_dir), "TIDEOVER_USER": user,
                "TIDEOVER_PASSWORD": password, "TMPDIR": str(data_dir.parent / "tmp")}
    (data_dir.parent / "tmp").mkdir(exist_ok=True)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "app.cli", *args], env=full_env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(f"tideover {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def as_json(proc: subprocess.CompletedProcess):
    return json.loads(proc.stdout)
