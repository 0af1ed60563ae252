"""How long to wait before trying the central again: the one backoff rule of the workstation.

The wait doubles with each failed try, from ``base`` up to ``cap``. The sync's HTTP retries
(``sync.Retry``: full jitter below it) and the app's background sync timer
(``central_link.next_delay_ms``: 85–100 % of it) both take their ceiling from here.
"""

from __future__ import annotations


def backoff_ceiling(failures: int, base: float, cap: float) -> float:
    """``base`` doubled once per failure so far, never above ``cap``."""
    return min(cap, base * 2 ** max(0, failures))
