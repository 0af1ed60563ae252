"""What every command shares: the data folder, signing in, JSON output."""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path

from app.services.errors import InputError
from app.services.workstation import default_data_dir
from app.store.store import Store


class Context:
    """Opens the store at most once per command, as the user the environment names."""

    def __init__(self, args):
        self.args = args
        self._store: Store | None = None

    @property
    def data_dir(self) -> Path:
        if self.args.data_dir:
            return Path(self.args.data_dir)
        return default_data_dir()

    @property
    def user(self) -> str:
        user = self.args.user or os.environ.get("TIDEOVER_USER")
        if not user:
            raise InputError("Say who is signing in: --user NAME or env TIDEOVER_USER.")
        return user

    def store(self) -> Store:
        if self._store is None:
            if self.args.break_glass_reason:
                code = secret("TIDEOVER_BREAK_GLASS_CODE", "Break-glass code: ")
                self._store = Store.open_break_glass(self.data_dir, code, self.args.break_glass_reason,
                                                     self.user)
            else:
                self._store = Store.open(self.data_dir, self.user, secret("TIDEOVER_PASSWORD",
                                                                          f"Password for {self.user}: "))
        return self._store

    def adopt(self, store: Store) -> None:
        self._store = store

    def close(self) -> None:
        if self._store is not None and self._store.db is not None:
            self._store.close("exit")
        self._store = None


def secret(env: str, prompt: str) -> str:
    """A password from ``env`` or, on a terminal, a prompt that does not echo."""
    value = os.environ.get(env)
    if value:
        return value
    if not sys.stdin or not sys.stdin.isatty():
        raise InputError(f"No password: set {env} or run on a terminal to be asked.")
    return getpass.getpass(prompt)


def read_json_file(path: Path, what: str):
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"No {what} file at {path}.") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a UTF-8 text file.") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{path} is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}).") from None


def print_json(obj) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str))
