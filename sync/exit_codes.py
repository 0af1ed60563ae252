"""Exit codes of both commands, ``tideover`` and ``tideover-central``: one table from error kind to code.

Every ``TideoverError`` (``forms.errors``) has a ``kind``; tests/test_error_tree.py finds every subclass
in app, sync and forms and fails when one's kind is missing here. Anything that is not a
``TideoverError`` is a bug: both commands print its traceback and exit with ``EXIT_BUG``, never with a
refusal's code. README, "Exit codes", lists them for people.
"""

from __future__ import annotations

from forms.errors import TideoverError

# Exit codes of both commands (README, "Exit codes"). 2 is argparse's own (a usage error).
EXIT_OK = 0
EXIT_REFUSED = 1  # the input or the request cannot be used as given; nothing was changed
EXIT_AUTH = 3  # who you are or what you may do: wrong password, locked, too soon, not permitted
EXIT_INTEGRITY = 4  # the record itself is in doubt: a broken chain, a bad signature, another store
EXIT_BUG = 70  # (EX_SOFTWARE) an unexpected error, i.e. a bug: the traceback goes to stderr
EXIT_INTERRUPTED = 130

# Every kind any Tideover error has, and the exit code it gives.
EXIT_CODES: dict[str, int] = {
    # the base, and refusals of input
    "error": EXIT_REFUSED,
    "bad_input": EXIT_REFUSED,
    "invalid_form": EXIT_REFUSED,
    "unknown_workflow": EXIT_REFUSED,
    "workflow_disabled": EXIT_REFUSED,
    "bad_overlay": EXIT_REFUSED,
    "invalid_event": EXIT_REFUSED,
    "illegal_transition": EXIT_REFUSED,
    "bad_bundle": EXIT_REFUSED,
    "already_initialized": EXIT_REFUSED,
    "not_initialized": EXIT_REFUSED,
    "not_found": EXIT_REFUSED,
    "store": EXIT_REFUSED,
    "weak_password": EXIT_REFUSED,
    "sync": EXIT_REFUSED,
    "sync_refused": EXIT_REFUSED,
    "not_enrolled": EXIT_REFUSED,
    "not_pinned_central": EXIT_REFUSED,  # another central's URL or CA: refused, nothing sent
    "unsigned_answer": EXIT_REFUSED,  # taken as no answer; the next sync asks again
    "pull_stopped": EXIT_REFUSED,
    "fork_check_failed": EXIT_REFUSED,
    "profile_refused": EXIT_REFUSED,  # the workstation keeps its last good site profile
    "key_file": EXIT_REFUSED,
    "install_damaged": EXIT_INTEGRITY,  # a bundle file changed, added or removed, or its manifest unsigned
    # the central's refusals (sync.central.errors: one kind per HTTP status)
    "refused": EXIT_REFUSED,
    "malformed": EXIT_REFUSED,
    "unauthenticated": EXIT_REFUSED,
    "forbidden": EXIT_REFUSED,
    "not_here": EXIT_REFUSED,
    "contradicts": EXIT_REFUSED,
    "too_large": EXIT_REFUSED,
    "unprocessable": EXIT_REFUSED,
    "rate_limited": EXIT_REFUSED,
    "unavailable": EXIT_REFUSED,
    "central_keys": EXIT_REFUSED,
    # who you are and what you may do
    "wrong_password": EXIT_AUTH,
    "account_locked": EXIT_AUTH,
    "too_soon": EXIT_AUTH,
    "not_permitted": EXIT_AUTH,
    # the record itself is in doubt
    "chain_broken": EXIT_INTEGRITY,
    "bad_signature": EXIT_INTEGRITY,
    "wrong_store": EXIT_INTEGRITY,
    "not_granted": EXIT_INTEGRITY,
    # something needed is not there (the central, its database, disk space, a file of the install)
    "central_unreachable": EXIT_REFUSED,
    "central_db": EXIT_REFUSED,
    "disk_full": EXIT_REFUSED,
    "incomplete_install": EXIT_REFUSED,
}


def exit_code(err: TideoverError) -> int:
    """The exit code of both commands for ``err`` (a kind missing from the table is a bug: EXIT_BUG)."""
    return EXIT_CODES.get(err.kind, EXIT_BUG)
