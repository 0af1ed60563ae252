"""The ``tideover`` command: GUI launch and every headless command, for nurses' IT and for scripts.

Each submodule adds its commands with ``register(subparsers)``; a command is a function
``run(args, ctx) -> int``. Errors are caught once, here, and shown as one line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from app.services.workstation import default_data_dir  # noqa: F401 - `tideover`'s own data folder
from sync.errors import TideoverError
from sync.events import describe_validation

from . import audit, common, demo, launcher, people, provision, tasks, workstation

COMMAND_MODULES = [workstation, provision, people, tasks, audit, demo]
try:  # added by the sync issue; absent until then
    from . import syncing

    COMMAND_MODULES.append(syncing)
except ImportError:  # pragma: no cover - only while the module does not exist
    pass

EXIT_REFUSED, EXIT_AUTH, EXIT_AUDIT = 1, 3, 4


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tideover",
        description="Tideover: keep ward workflows going while the EHR is down. "
                    "With no command, opens the desktop app.")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="the workstation's data folder (env TIDEOVER_DATA_DIR; default: the "
                             "platform's user data folder)")
    parser.add_argument("--user", default=None, help="who is signing in (env TIDEOVER_USER); the password "
                        "comes from env TIDEOVER_PASSWORD or a prompt, never from the command line")
    parser.add_argument("--break-glass-reason", default=None, metavar="REASON",
                        help="emergency sign-in with the sealed break-glass code (env "
                             "TIDEOVER_BREAK_GLASS_CODE); --user names the person; flagged for review")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return launcher.launch_gui(args)
    ctx = common.Context(args)
    try:
        return int(args.run(args, ctx) or 0)
    except KeyboardInterrupt:
        print("tideover: interrupted; everything captured before this point is saved.", file=sys.stderr)
        return 130
    except TideoverError as err:
        print(f"tideover: {err}", file=sys.stderr)
        return exit_code(err)
    except ValidationError as err:  # a value the event model refuses (e.g. a name too long)
        print(f"tideover: {describe_validation(err)}", file=sys.stderr)
        return EXIT_REFUSED
    except ValueError as err:  # forms.FormError and friends: bad input, already worded for people
        print(f"tideover: {err}", file=sys.stderr)
        return EXIT_REFUSED
    except OSError as err:
        print(f"tideover: {err.strerror or err} ({getattr(err, 'filename', '') or ''})", file=sys.stderr)
        return EXIT_REFUSED
    finally:
        try:
            ctx.close()
        except TideoverError as err:  # e.g. the disk is full: the lock event cannot be written
            print(f"tideover: while locking the store: {err}", file=sys.stderr)


def exit_code(err: TideoverError) -> int:
    if err.kind in ("wrong_password", "account_locked", "too_soon", "not_permitted"):
        return EXIT_AUTH
    if err.kind in ("chain_broken", "bad_signature", "wrong_store", "not_granted"):
        return EXIT_AUDIT
    return EXIT_REFUSED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
