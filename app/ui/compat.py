"""Keep PySide6 6.12 from crashing the app on Python 3.11.

PySide6 6.12's bindings hand back ``None`` (from every void method, e.g. ``QLabel.setText``, and from
Python overrides such as ``QAbstractItemModel.data`` returning None) and ``True``/``False`` (from
``Signal.emit``) without taking the reference they give away. On Python 3.12+ those objects are
immortal, so nothing happens; on 3.11 each call lowers the count by one, and after some thousands of
calls Python aborts with "deallocating None" (measured: ``sys.getrefcount(None)`` drops by exactly
1000 over 1000 ``setText`` calls). These objects are never freed anyway, so giving them an enormous
reference count makes 3.11 behave like 3.12. Remove this once the project runs on Python >= 3.12 or
on a PySide6 release without the bug.
"""

from __future__ import annotations

import ctypes
import sys

SINGLETONS = (None, True, False, Ellipsis, NotImplemented)
MARGIN = 1 << 40


def pin_singletons() -> None:
    """Raise the reference counts of None, True, False, ... far beyond reach (CPython < 3.12 only)."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    for obj in SINGLETONS:
        count = ctypes.c_ssize_t.from_address(id(obj))  # ob_refcnt is a PyObject's first field
        if count.value < MARGIN:
            count.value += MARGIN
