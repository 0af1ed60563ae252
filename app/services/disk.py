"""Room on the disk for captures: a pull stops before it eats the space kept for them.

Captures matter more than the unit's events from other workstations (those wait safely at the
central), so before each page a pull checks the free space of the store's folder against a
reserve: the site's ``pull_reserve_mb`` (default 500 MB) or ``pull_reserve_percent`` of the
filesystem (default 5 %), whichever is smaller, so a small disk is not refused every pull.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from app.store.store import Store
from sync.errors import TideoverError

MB = 1024 * 1024
DEFAULT_RESERVE_MB = 500
DEFAULT_RESERVE_PERCENT = 5.0


class Usage(NamedTuple):
    total: int
    used: int
    free: int


FreeSpace = Callable[[Path], Usage]
"""How much room a folder's filesystem has: ``shutil.disk_usage`` unless a test passes another."""


class PullStopped(TideoverError):
    """The pull stopped to keep the disk's reserve (or the disk filled); what was pulled is kept."""

    kind = "pull_stopped"

    def __init__(self, message: str, *, pulled: int, reason: str):
        super().__init__(message)
        self.pulled, self.reason = pulled, reason


def reserve_bytes(settings: dict, total: int) -> int:
    """The free space a pull must leave: the site's MB or percent of the disk, whichever is smaller."""
    mb = float(settings.get("pull_reserve_mb", DEFAULT_RESERVE_MB))
    percent = float(settings.get("pull_reserve_percent", DEFAULT_RESERVE_PERCENT))
    return int(min(mb * MB, total * percent / 100))


def check_room(store: Store, free_space: FreeSpace = shutil.disk_usage, *, pulled: int = 0) -> None:
    """Raise PullStopped when the store's folder has less free space than the reserve."""
    usage = free_space(store.data_dir)
    reserve = reserve_bytes(store.settings, usage.total)
    if usage.free >= reserve:
        return
    raise PullStopped(f"pulled {pulled}: stopped with {usage.free // MB} MB free on the disk of {store.data_dir}, "
                      f"under the {reserve // MB} MB kept for captures; "
                      f"{'what was pulled is kept and ' if pulled else ''}the rest waits at the central "
                      f"until IT frees space. Captures still work.", pulled=pulled, reason="disk_reserve")


def pull_disk_full(pulled: int) -> PullStopped:
    """The pull stopped because a page could not be written: that page is rolled back whole."""
    kept = f"the {pulled} events pulled before it are kept" if pulled else "nothing of the pull was kept"
    return PullStopped(f"pulled {pulled}: the disk is full, {kept}; the rest waits at the central. "
                       f"Free space (call IT); if captures fail too, switch to paper downtime forms.",
                       pulled=pulled, reason="disk_full")
