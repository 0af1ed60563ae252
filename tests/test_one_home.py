"""One home per rule: each rule is written in one module, and these checks fail when it is written again.

The homes (docs/rules.md lists them all):
- the words (statuses, finished statuses, priorities, workflows, roles, modes): ``forms/vocabulary.py``
- reading and showing times, and now: ``sync/clock.py`` (the app's screens take now from the session's clock)
- "workflow off": ``forms.SiteOverlay.is_on`` (forms/overlay.py)
- the settings, their defaults and the password policy (two copies kept in step): ``app/store/settings.py``
- the chain check (seq follows, prev_hash links, hash matches): ``sync.chain.link_break``
- the event field formats (ids, hashes, lengths) on both ends: ``sync/fields.py``
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from forms import vocabulary

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("app", "sync", "forms")
VOCABULARY_HOME = "forms/vocabulary.py"

# Each list of words, by the name of its one definition.
WORD_LISTS = {
    "STATUSES": frozenset(vocabulary.STATUSES),
    "PRIORITIES": frozenset(vocabulary.PRIORITIES),
    "WORKFLOWS": frozenset(vocabulary.WORKFLOWS),
    "ROLES": frozenset(vocabulary.ROLES),
    "MODES": frozenset(vocabulary.MODES),
}
# Tables keyed by each word of a list, for a job of their own: (file, list) -> why it may.
KEYED_BY_EACH_WORD = {
    ("forms/routing.py", "WORKFLOWS"): "each workflow's default destination queue",
    ("forms/summary.py", "WORKFLOWS"): "each workflow's one-line summary",
    ("app/services/demo.py", "WORKFLOWS"): "the demo's steps for each workflow",
    ("sync/protocol.py", "STATUSES"): "the central's push answers (accepted, rejected...) are not task statuses",
}
# Names that only the vocabulary may define (at module level, in any scanned module).
DEFINED_ONCE = frozenset(
    name for name in vars(vocabulary) if name.isupper() or name in {"Status", "Priority", "Workflow", "Role", "Mode"})


def python_files(*roots: str) -> list[Path]:
    return sorted(p for root in roots for p in (ROOT / root).rglob("*.py"))


def _strings(nodes) -> set[str]:
    return {n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def _groups(node: ast.AST):
    """The string constants that ``node`` writes side by side: a tuple, list or set, a dict's keys,
    a call's arguments, a subscript (``Literal[...]``), or the two sides of a comparison."""
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        yield _strings(node.elts)
    elif isinstance(node, ast.Dict):
        yield _strings(k for k in node.keys if k is not None)
    elif isinstance(node, ast.Call):
        yield _strings(node.args)
    elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple):
        yield _strings(node.slice.elts)
    elif isinstance(node, ast.Compare):
        yield _strings([node.left, *node.comparators])


def vocabulary_written_again(path: Path, root: Path = ROOT) -> list[str]:
    """Where ``path`` writes out two or more words of one list, or defines a vocabulary name itself."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        for strings in _groups(node):
            for name, words in WORD_LISTS.items():
                hit = strings & words
                if len(hit) >= 2 and (path.relative_to(root).as_posix(), name) not in KEYED_BY_EACH_WORD:
                    found.append(f"{path.relative_to(root)}:{node.lineno}: {name} written out {sorted(hit)}")
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AnnAssign) else []
        for t in targets:
            if isinstance(t, ast.Name) and t.id in DEFINED_ONCE:
                found.append(f"{path.relative_to(root)}:{node.lineno}: defines {t.id} (its home is {VOCABULARY_HOME})")
    return found


def test_the_vocabulary_is_written_only_in_its_home():
    found = [hit for path in python_files(*SCANNED) if path != ROOT / VOCABULARY_HOME
             for hit in vocabulary_written_again(path)]
    assert not found, "import these from forms.vocabulary instead:\n" + "\n".join(found)


@pytest.mark.parametrize("source", [
    'FINISHED = ("completed", "cancelled")\n',  # a second list of finished statuses
    'def may(role):\n    return role in {"super_user", "admin"}\n',  # a role check by hand
    'from typing import Literal\nWorkflow = Literal["ed_triage", "referral"]\n',  # a second Literal
    'def is_open(status):\n    return status not in ["completed", "cancelled", "failed"]\n',  # finished, by hand
    'ROLES = ("nurse",)\n',  # a second definition under the vocabulary's name
])
def test_vocabulary_check_fails_on_a_deliberate_violation(tmp_path, source):
    path = tmp_path / "app" / "board_rules.py"
    path.parent.mkdir()
    path.write_text(source, encoding="utf-8")
    assert vocabulary_written_again(path, root=tmp_path), f"the check missed: {source}"


def test_the_vocabulary_agrees_with_itself():
    """Its rules name only its own words (a typo in a set would make a rule silently never apply)."""
    statuses = set(vocabulary.STATUSES)
    assert vocabulary.INITIAL_STATUS in statuses and vocabulary.FINISHED_STATUSES <= statuses
    assert set(vocabulary.STATUS_MOVES) == statuses and all(m <= statuses for m in vocabulary.STATUS_MOVES.values())
    assert all(not vocabulary.STATUS_MOVES[s] for s in vocabulary.FINISHED_STATUSES)
    assert vocabulary.STATUSES_NEEDING_REASON <= statuses and set(vocabulary.STATUS_ACTIONS) == statuses
    assert set(vocabulary.PRIORITY_LABELS) == set(vocabulary.OVERDUE_AFTER_MIN) == set(vocabulary.PRIORITIES)
    assert vocabulary.PRESSING_PRIORITIES <= set(vocabulary.PRIORITIES)
    assert set(vocabulary.WORKFLOW_TITLES) == set(vocabulary.WORKFLOWS)
    assert {vocabulary.BREAK_GLASS_ROLE, *vocabulary.SUPERVISORS, *vocabulary.CENSUS_KEEPERS} <= set(vocabulary.ROLES)
    assert set(vocabulary.WORKSTATION_MODES) <= set(vocabulary.MODES) and vocabulary.DEFAULT_MODE in vocabulary.MODES


# -- time: one parser, one clock ------------------------------------------------------------------
TIME_HOME = "sync/clock.py"
# Modules that may read times themselves, and why.
TIME_READERS = {
    "forms/values.py": "checks FHIR answer values (dates, times of day) in the lowest layer, below sync.clock",
}
_READ_TIME = {"fromisoformat", "strptime"}
_WALL_CLOCK = {"now", "utcnow", "today"}


def time_read_outside_its_home(path: Path, root: Path = ROOT) -> list[str]:
    """Where ``path`` parses a time or reads the wall clock by itself instead of through sync.clock."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Attribute):
            continue
        on_datetime = isinstance(node.value, ast.Name) and node.value.id in {"datetime", "date", "time"}
        if node.attr in _READ_TIME or (on_datetime and node.attr in _WALL_CLOCK):
            found.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_times_are_read_only_through_the_clock():
    found = [hit for path in python_files(*SCANNED)
             if path.relative_to(ROOT).as_posix() not in {TIME_HOME, *TIME_READERS}
             for hit in time_read_outside_its_home(path)]
    assert not found, "use sync.clock (parse_time, parse_typed_time, parse_local, local_text; Clock.now):\n" + \
        "\n".join(found)


@pytest.mark.parametrize("source", [
    "from datetime import datetime\nstamp = datetime.now().strftime('%H:%M')\n",  # bypasses the session's clock
    "from datetime import UTC, datetime\ndef age(t):\n    return datetime.now(UTC) - t\n",
    "from datetime import datetime\ndef when(t):\n    return datetime.fromisoformat(t.replace('Z', '+00:00'))\n",
    "import datetime as dt\ndef when(t):\n    return dt.datetime.strptime(t, '%Y-%m-%d %H:%M')\n",
])
def test_time_check_fails_on_a_deliberate_violation(tmp_path, source):
    path = tmp_path / "app" / "banner_rules.py"
    path.parent.mkdir()
    path.write_text(source, encoding="utf-8")
    assert time_read_outside_its_home(path, root=tmp_path), f"the check missed: {source}"


# -- rules read through one function ------------------------------------------------------------
# (what a module may not do itself, the one module that may, and where others go instead)
def _names_prev_hash(node: ast.AST) -> bool:
    """``x["prev_hash"]`` or ``x.get("prev_hash")``."""
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value == "prev_hash"
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
        and bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value == "prev_hash"


ONE_WAY = [
    ("checks a chain link itself", lambda n: isinstance(n, ast.Compare) and any(
        _names_prev_hash(side) for side in (n.left, *n.comparators)),
     {"sync/chain.py",
      "sync/central/ingest_write.py",  # a batch against the central's reference copy: "restored or rewritten"
      "app/store/forks.py"},  # where a fork taken back meets this workstation's own chain
     "ask sync.chain.link_break"),
    ("reads enabled_workflows", lambda n: isinstance(n, ast.Attribute) and n.attr == "enabled_workflows",
     {"forms/overlay.py", "sync/profile.py", "app/services/profiles.py"},  # the rule; the profile that carries it
     "ask SiteOverlay.is_on(workflow)"),
    ("writes the settings", lambda n: isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
     and n.func.attr == "set_meta" and n.args and isinstance(n.args[0], ast.Constant) and n.args[0].value == "settings",
     {"app/store/settings.py"}, "call app.store.settings.save (it keeps the keyring's policy copy in step)"),
    ("reads the keyring's policy copy", lambda n: isinstance(n, ast.Attribute) and n.attr == "policy"
     and not (isinstance(n.value, ast.Name) and n.value.id == "self"),
     {"app/store/settings.py", "app/store/signin.py"}, "read it through app.store.settings.password_policy"),
]


def one_way_broken(path: Path, root: Path = ROOT) -> list[str]:
    rel = path.relative_to(root).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [f"{rel}:{node.lineno}: {what}; {instead}" for what, found, homes, instead in ONE_WAY
            if rel not in homes for node in ast.walk(tree) if found(node)]


def test_each_rule_is_read_through_its_one_function():
    found = [hit for path in python_files(*SCANNED) for hit in one_way_broken(path)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("source", [
    "def may_capture(overlay, workflow):\n    return not overlay.enabled_workflows or workflow in overlay.enabled_workflows\n",
    "import json\ndef set_mode(store, mode):\n    store.set_meta('settings', json.dumps({**store.settings, 'mode': mode}))\n",
    "def limit(keyring):\n    return keyring.policy.get('lockout_limit', 10)\n",
    "def links(body, prev):\n    return body['prev_hash'] == prev['hash']\n",
    "def links(body, prev_hash):\n    return prev_hash != body.get('prev_hash')\n",
])
def test_one_way_check_fails_on_a_deliberate_violation(tmp_path, source):
    path = tmp_path / "app" / "services" / "site_rules.py"
    path.parent.mkdir(parents=True)
    path.write_text(source, encoding="utf-8")
    assert one_way_broken(path, root=tmp_path), f"the check missed: {source}"


# -- event field formats: one definition for both ends --------------------------------------------
FIELDS_HOME = "sync/fields.py"
FIELD_FORMATS = ("[0-9a-f]{64}", "[0-9A-Za-z][0-9A-Za-z._:-]")


def field_format_written_again(path: Path, root: Path = ROOT) -> list[str]:
    rel = path.relative_to(root).as_posix()
    return [f"{rel}:{node.lineno}: {node.value!r}" for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and any(fmt in node.value for fmt in FIELD_FORMATS)]


def test_event_field_formats_are_written_only_in_their_home():
    found = [hit for path in python_files(*SCANNED) if path != ROOT / FIELDS_HOME
             for hit in field_format_written_again(path)]
    assert not found, "use sync.fields (ID_PATTERN, HASH_PATTERN, ID, HASH):\n" + "\n".join(found)


def test_field_format_check_fails_on_a_deliberate_violation(tmp_path):
    path = tmp_path / "sync" / "central" / "envelope.py"
    path.parent.mkdir(parents=True)
    path.write_text('import re\n_HEX64 = re.compile(r"^[0-9a-f]{64}$")\n', encoding="utf-8")
    assert field_format_written_again(path, root=tmp_path)
