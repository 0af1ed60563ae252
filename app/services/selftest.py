"""``tideover self-test``: can this installation do its job? Run after installing, from the bundle.

A scratch encrypted store in a temporary folder (removed after), one synthetic capture, the chain
verified, SQLCipher's version; the desktop's part (the Qt platform plugin, the stylesheet) is
checked by app/ui. Each check gives (name, ok, detail); nothing touches the workstation's own store.
"""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

from app.store.selfcheck import cipher_version
from app.store.store import Store

from . import tasks as ts
from .demo import example_answers
from .patients import register_temp_patient

Check = tuple[str, bool, str]


def store_checks() -> list[Check]:
    checks: list[Check] = []
    with tempfile.TemporaryDirectory(prefix="tideover-selftest-") as tmp:
        data_dir = Path(tmp) / "store"
        password = "self test " + secrets.token_hex(12)
        try:
            store, _code = Store.create(data_dir, site_id="self-test", unit_id="self-test", admin_id="selftest",
                                        admin_name="Self test", password=password)
        except Exception as err:  # noqa: BLE001 - every failure is the answer here
            return [("encrypted store", False, f"cannot be made: {err}")]
        try:
            version = cipher_version(store)
            checks.append(("SQLCipher", bool(version), version or "the database engine is not SQLCipher"))
            patient, _similar = register_temp_patient(store, "Zztestselfcheck", "Alex", birth_date="1990-01-01")
            captured = ts.capture_task(store, "ed_triage", patient, example_answers("ed_triage"))
            checks.append(("capture", True, f"task {captured.task_id[:8]} recorded"))
            count = store.verify()
            checks.append(("chain", True, f"{count} events verified"))
        except Exception as err:  # noqa: BLE001
            checks.append(("store", False, str(err)))
        finally:
            store.close()
        plain = [p.name for p in data_dir.iterdir() if p.suffix == ".db" and p.read_bytes()[:16] == b"SQLite format 3\x00"]
        checks.append(("encryption", not plain, "the database file is encrypted" if not plain else f"{plain} in clear"))
    return checks
