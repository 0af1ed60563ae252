"""The ``tideover`` command: GUI launch and every headless command, for nurses' IT and for scripts.

Each submodule adds its commands with ``register(subparsers)``; a command is a function
``run(args, ctx) -> int``. Errors are caught once, here: a ``TideoverError`` is shown as one line and
exits with its kind's code (``sync.exit_codes``, the table ``tideover-central`` uses too); anything
else is a bug and is let through as a traceback with exit code 70, never shown as a refusal.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from app.services.release import app_version
from app.services.workstation import default_data_dir  # noqa: F401 - `tideover`'s own data folder
from sync.errors import TideoverError
from sync.exit_codes import EXIT_AUTH, EXIT_BUG, EXIT_INTEGRITY, EXIT_INTERRUPTED, EXIT_REFUSED, exit_code

from . import audit, common, demo, launcher, people, provision, release, syncing, tasks, workstation

# Every command module, imported plainly: one that fails to import stops `tideover` with its traceback
# rather than leaving its commands out quietly.
COMMAND_MODULES = [workstation, provision, people, tasks, audit, demo, syncing, release]
EXIT_AUDIT = EXIT_INTEGRITY  # the name the CLI used before the shared table
__all__ = ["main", "build_parser", "exit_code", "EXIT_REFUSED", "EXIT_AUTH", "EXIT_AUDIT", "EXIT_BUG"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tideover",
        description="Tideover: keep ward workflows going while the EHR is down. "
                    "With no command, opens the desktop app.")
    parser.add_argument("--version", action="version", version=f"tideover {app_version()}")
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
        return EXIT_INTERRUPTED
    except TideoverError as err:
        print(f"tideover: {err}", file=sys.stderr)
        return exit_code(err)
    except OSError as err:  # a file or folder named on the command line: missing, not allowed, disk full
        print(f"tideover: {err.strerror or err} ({getattr(err, 'filename', '') or ''})", file=sys.stderr)
        return EXIT_REFUSED
    except Exception:  # noqa: BLE001 - not a refusal: a bug, shown in full with its own exit code
        traceback.print_exc()
        print(f"tideover: this is a bug in Tideover, not a problem with what you typed (exit {EXIT_BUG}); "
              f"everything captured before it is saved. Please report the lines above to IT.", file=sys.stderr)
        return EXIT_BUG
    finally:
        try:
            ctx.close()
        except TideoverError as err:  # e.g. the disk is full: the lock event cannot be written
            print(f"tideover: while locking the store: {err}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
