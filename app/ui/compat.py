"""Refuse to start on a Qt binding known to crash the app, with one line IT can act on.

PySide6 6.12.0 hands back ``None`` (from every void call such as ``QLabel.setText``) and
``True``/``False`` (from ``Signal.emit``) without the reference it gives away. On CPython 3.12+
those objects are immortal and nothing happens; on CPython 3.11 each call lowers their count by one,
and some thousands of calls into a shift Python aborts with "deallocating None" (measured:
``sys.getrefcount(None)`` drops by exactly 1000 over 1000 ``setText`` calls). pyproject pins
``PySide6-Essentials<6.12``; this check catches an installation that slipped past the pin, at start,
before a nurse has typed anything, instead of mid-capture.
"""

from __future__ import annotations

import sys

# [first bad, first good): 6.12.0 is measured bad; later 6.12 patch releases are untested and the pin
# excludes them too, so the whole series is refused until one is measured.
BAD_PYSIDE = ((6, 12, 0), (6, 13, 0))
IMMORTAL_SINGLETONS_FROM = (3, 12)  # PEP 683: None, True and False no longer count references
FIX = 'pip install "PySide6-Essentials<6.12"'


def startup_problem(pyside: tuple[int, ...], python: tuple[int, ...], implementation: str = "cpython") -> str | None:
    """One line saying why the app must not start on this PySide6 and Python, or None when it may."""
    if implementation != "cpython" or tuple(python[:2]) >= IMMORTAL_SINGLETONS_FROM:
        return None
    first_bad, first_good = BAD_PYSIDE
    if not first_bad <= tuple(pyside[:3]) < first_good:
        return None
    shown = ".".join(str(p) for p in pyside[:3])
    return (f"tideover: not starting: PySide6 {shown} crashes on Python {python[0]}.{python[1]}. "
            f"IT: {FIX}, then start again.")


def running_versions() -> tuple[tuple[int, ...], tuple[int, ...], str]:
    """(PySide6 version, Python version, implementation) of this process."""
    import PySide6

    pyside = tuple(p for p in PySide6.__version_info__ if isinstance(p, int))
    return pyside, tuple(sys.version_info[:3]), sys.implementation.name


def refuse_bad_runtime() -> int | None:
    """At app start: print the one line and return the exit code when this runtime is known bad."""
    problem = startup_problem(*running_versions())
    if problem is None:
        return None
    print(problem, file=sys.stderr)
    return 1
