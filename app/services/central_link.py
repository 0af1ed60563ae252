"""The background sync's decisions, as plain rules (no Qt): what the link to the central is, when to
try again, and whether the workstation is LIVE or in DOWNTIME.

``app.ui.sync_runner`` runs the timer and the threads and calls these; ``app.ui.banner`` paints what
``central_view`` says. One rule each: live-or-downtime is decided here only, and the wait before the
next try doubles by ``backoff_ceiling`` like the sync's own HTTP retries (``sync.Retry``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime

from forms.vocabulary import DOWNTIME_MODE, LIVE_MODE, TRAINING_MODE
from sync.clock import local_text, seconds_since

from . import sync as sync_service
from .backoff import backoff_ceiling
from .wording import age_text, ago_text

SYNC_EVERY_MS = 30_000
BACKOFF_FACTOR_MAX = 4  # unreachable: 30 s, 60 s, 2 min, 2 min, ...
# Without a try of its own this session, the central counts as reachable when the last sync is this recent.
REACHABLE_WITHIN_S = 180
LIVE, DOWNTIME = LIVE_MODE, DOWNTIME_MODE


@dataclass
class LinkState:
    """What the banner shows about the central: enrolled, reachable, since when, what is held back."""

    enrolled: bool = False
    reachable: bool | None = None  # None: not tried yet this session
    last_ok: datetime | None = None
    unreachable_since: datetime | None = None
    failures: int = 0
    problem: str = ""  # the last error, worded for IT (tooltip)
    refused: bool = False  # the central answered but refused this workstation (e.g. its credential)
    pull_stopped: bool = False  # the last pull stopped for disk space (``problem`` says what was saved)
    held_back: list[dict] = field(default_factory=list)
    fork: dict | None = None  # restored from an older copy: the sync waits for `tideover recover-chain`


def next_delay_ms(failures: int, every_ms: int, factor_max: int = BACKOFF_FACTOR_MAX,
                  rng: random.Random | None = None) -> int:
    """The wait before the next timed sync: ``every_ms`` while syncing works, doubling per failure up to
    ``factor_max`` times it while the central is unreachable; with ``rng``, 85–100 % of that so the
    workstations of a ward drift apart."""
    ceiling = backoff_ceiling(failures, every_ms, every_ms * factor_max)
    return int(ceiling * rng.uniform(0.85, 1.0)) if rng else int(ceiling)


def synced(state: LinkState, summary: dict, now: datetime) -> None:
    """The sync went through: the link is up; say what the central held back or refused."""
    state.reachable, state.last_ok = True, now
    state.unreachable_since, state.failures, state.refused = None, 0, False
    state.problem = "" if summary.get("refused") is None else \
        f"The central refused part of this workstation's chain: {summary['refused'].get('detail')}"
    state.pull_stopped = bool(summary.get("pull_stopped"))
    if state.pull_stopped:  # a full disk or its reserve: the message says what was saved
        state.problem = summary["message"]
    state.held_back = summary.get("held_back", [])
    state.fork = summary.get("fork")
    if state.fork:
        state.problem = (f"This workstation was restored from an older copy: the central holds "
                         f"{state.fork['to_take_back']} of its events that it lacks. New captures "
                         f"are kept here; {state.fork['action']}.")


def failed(state: LinkState, err: Exception, now: datetime, *, can_sync: bool = True) -> LinkState:
    """The sync or the probe failed: the link is down since the first failure. When there is no sync
    to run at all (not enrolled, or its link could not be read), a fresh state that only says why."""
    if not can_sync or isinstance(err, sync_service.NotEnrolled):
        return LinkState(problem=str(err))
    state.reachable = False
    state.unreachable_since = state.unreachable_since or now
    state.failures += 1
    state.problem = str(err) or type(err).__name__
    state.refused = isinstance(err, sync_service.SyncRefused)
    return state


def last_sync_text(status: dict, now: datetime) -> str:
    last = status.get("last_sync")
    if not last:
        return "Last sync: never"
    return f"Last sync: {age_text(seconds_since(last, now))} ago"


@dataclass(frozen=True)
class CentralView:
    """What the banner says about the central: the mode, one line, and a tooltip for IT."""

    mode: str
    text: str
    tooltip: str
    from_link: bool  # decided by this session's own tries (the last-sync line is then in the tooltip)


def central_view(identity: dict, status: dict, link: LinkState | None, now: datetime) -> CentralView:
    """LIVE or DOWNTIME, and why: the one rule. This session's own tries decide once there are any
    (reachable is LIVE: each capture goes to the central at once; unreachable or refused is
    DOWNTIME: captures queue here); before them, the configured mode stands and the age of the last
    sync says whether the central answered lately. Practice never syncs."""
    configured = identity.get("mode") or status.get("mode") or DOWNTIME
    if configured == TRAINING_MODE:
        return CentralView(TRAINING_MODE, "Practice only: nothing leaves this store", "", False)
    if link is not None and link.enrolled and link.reachable is not None:
        return _from_link(link, now)
    if link is not None and link.enrolled:
        return CentralView(configured, "Central: connecting…", "", True)
    if not status.get("central_url"):
        return CentralView(configured, "Central: not enrolled", "", False)
    last = status.get("last_sync")
    if not last:
        return CentralView(configured, "Central: NOT reachable (never synced)", "", False)
    recent = seconds_since(last, now) <= REACHABLE_WITHIN_S
    return CentralView(configured, "Central: reachable" if recent else "Central: NOT reachable", "", False)


def _from_link(link: LinkState, now: datetime) -> CentralView:
    if link.reachable and link.fork:
        return CentralView(LIVE, "Central: restored copy, ask IT to recover the chain", link.problem, True)
    if link.reachable:
        text = f"Central: reachable · last sync {ago_text((now - link.last_ok).total_seconds())}"
        if link.pull_stopped:  # the disk is low: the push went through, the pull waits
            return CentralView(LIVE, f"{text} · ⚠ disk low, pull waiting", link.problem, True)
        return CentralView(LIVE, text, "Every capture is sent to the central at once.", True)
    since = local_text(link.unreachable_since, "time")
    if link.refused:  # it answers, but will not take this workstation's sync
        return CentralView(DOWNTIME, "Central: refused this workstation (ask IT)",
                           f"{link.problem}\nSince {since}. Captures are kept on this workstation.", True)
    return CentralView(DOWNTIME, f"Central: unreachable since {since}",
                       f"{link.problem}\nCaptures are kept on this workstation and sent when the central "
                       f"answers again.", True)
