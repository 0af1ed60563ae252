"""Taking a push is split by job: the rules decide and return, the write step writes, and the SQL of it
lives in the central's database module (db_ingest), not in the job modules."""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import pytest
from central_helpers import FakeDevice

from sync.central import ingest_rules
from sync.protocol import ACCEPTED, CONCURRENT_EDIT, CONFLICT, ID_REUSED, QUARANTINED, REJECTED
from sync.taskorder import rival_key

CENTRAL = Path(ingest_rules.__file__).parent
JOB_MODULES = ["ingest.py", "ingest_envelope.py", "ingest_chain.py", "ingest_rules.py", "ingest_write.py"]
DB_MODULES = ("sqlalchemy", "sqlcipher3", "sqlite3", "psycopg")


def database_imports(source: str) -> list[str]:
    """The database libraries a module's source imports."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        found += [n for n in names if n.split(".")[0] in DB_MODULES]
    return found


@pytest.mark.parametrize("name", JOB_MODULES)
def test_the_job_modules_leave_sql_to_the_database_module(name):
    source = (CENTRAL / name).read_text(encoding="utf-8")
    assert database_imports(source) == []
    assert "exec_driver_sql" not in source and "unnest" not in source.lower()


def test_the_check_sees_a_database_import():
    """Deliberate violation: the same check on a job module that imports SQLAlchemy."""
    source = (CENTRAL / "ingest_write.py").read_text(encoding="utf-8") + "\nimport sqlalchemy as sa\n"
    assert database_imports(source) == ["sqlalchemy"]


def test_the_dialect_sql_lives_in_db_ingest():
    source = (CENTRAL / "db_ingest.py").read_text(encoding="utf-8")
    assert "unnest" in source and "ON CONFLICT DO NOTHING" in source and database_imports(source)


def test_the_rules_return_their_answers_and_change_nothing_they_are_given():
    device = FakeDevice()
    created = device.task("t-1")
    edit = device.transition("t-1", 1)
    again = device.task("t-2")
    again_same_id = device.task("t-3", event_id=again["event_id"])
    bad = device.task("t-4")
    new = [created, edit, again, again_same_id, bad]
    verdicts = {ev["device_seq"]: None for ev in new}
    verdicts[bad["device_seq"]] = (REJECTED, "invalid_fields", "synthetic fault")
    rivals = {rival_key(edit): ("other-event", "other-device")}
    given = copy.deepcopy((new, verdicts, rivals))

    assert rival_key(created) is None  # a creation is no edit of a version: only the edit is looked up
    assert list(ingest_rules.edits_to_check(new, verdicts)) == [rival_key(edit)]
    answers = ingest_rules.answer_new(new, verdicts, rivals)

    assert (new, verdicts, rivals) == given
    assert [(a.ev["device_seq"], a.result, a.reason) for a in answers] == [
        (created["device_seq"], ACCEPTED, None),
        (edit["device_seq"], CONFLICT, CONCURRENT_EDIT),
        (again["device_seq"], ACCEPTED, None),
        (again_same_id["device_seq"], QUARANTINED, ID_REUSED),
        (bad["device_seq"], REJECTED, "invalid_fields"),
    ]
    assert answers[1].rival == ("other-event", "other-device")
    assert [a.held_back for a in answers] == [False, False, False, True, True]
