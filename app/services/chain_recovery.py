"""A workstation restored from an older copy takes its own events back from the central.

How the sync finds it: the central refuses a push as ``chain_broken`` (it holds another event at a
seq this store used again after the restore), or its answer says it holds more of this device's
chain than the store has, or an older client had marked events rejected at such a break. Then
``inspect`` reads the central's copy of this device's chain after the last seq both are known to
share (``GET /v1/own-events``), checks it with the device's own key, and finds the fork point.

- The central holds more and this store made nothing past the fork point: the sync takes the
  events back by itself (nothing local is set aside, so there is nothing for anyone to decide).
- This store made events at seqs the central already holds (the usual restore: at least the
  sign-in after it): the sync keeps them pending, stops pushing, says so in its summary, in
  ``tideover status`` and on the banner, and goes on pulling. An admin runs
  ``tideover recover-chain`` once: the events are taken back and the forked ones re-recorded
  (app/store/forks.py), then the sync runs. One confirmation, because a fork is also what a
  cloned store running on two machines, or a rewritten local log, looks like: a person should
  look once, and the recovery is recorded under their name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from pydantic import ValidationError

from app.store import forks, outbox
from app.store.store import Store
from sync.chain import link_break
from sync.checkpoint import Checkpoint, verify_checkpoint
from sync.errors import BadSignature, TideoverError
from sync.events import recompute_hash
from sync.protocol import AFTER_BREAK, CHAIN_BROKEN, MAX_BATCH

from . import access

RECOVER_ACTION = "an admin runs `tideover recover-chain` on this workstation (see docs/central.md)"


class ForkCheckFailed(TideoverError):
    """The central's copy of this device's chain could not be checked; nothing was changed."""

    kind = "fork_check_failed"


@dataclass
class CentralCopy:
    head_seq: int
    head_hash: str
    items: list[tuple[dict, str, str | None]] = field(default_factory=list)  # (body, result, reason)


@dataclass
class Plan:
    """Where this store and the central's copy of its chain part."""

    fork_seq: int
    central_head_seq: int
    forked_events: int
    answered_from: int
    copy: CentralCopy

    def summary(self, store: Store) -> dict:
        return {"fork_seq": self.fork_seq, "central_head_seq": self.central_head_seq,
                "local_head_seq": store.head.device_seq, "forked_events": self.forked_events,
                "to_take_back": self.central_head_seq - self.fork_seq + 1, "detected_at": store.clock.now_iso(),
                "action": RECOVER_ACTION}


def central_copy(store: Store, client: httpx.Client, after: int, retry, *, limit: int = MAX_BATCH,
                 first_page_only: bool = False) -> CentralCopy:
    """The central's copy of this device's own events after ``after``, checked: each hashes to
    itself, they are consecutive and link, and the last is the head the device itself signed."""
    from app.services.sync import _decode, call, pinned_central_key

    copy, cursor, checkpoint = None, after, None
    central_key = pinned_central_key(store)
    while True:
        page = _decode(call(client, "GET", "/v1/own-events", retry, params={"after": cursor, "limit": limit},
                            answer_key=central_key))
        try:
            head_seq, head_hash = int(page["head_seq"]), str(page["head_hash"])
            checkpoint = Checkpoint.model_validate(page["checkpoint"]) if page.get("checkpoint") else checkpoint
            items = [(it["event"], it["result"], it.get("reason")) for it in page["events"]]
        except (KeyError, TypeError, ValueError, ValidationError):
            raise ForkCheckFailed("The central's copy of this workstation's chain is not understood; "
                                  "nothing was changed.") from None
        if copy is None:
            copy = CentralCopy(head_seq, head_hash)
        copy.items.extend(items)
        if first_page_only or not page.get("more") or not items:
            break
        cursor = items[-1][0].get("device_seq", cursor)
    _check_copy(store, copy, after, checkpoint, complete=not first_page_only)
    return copy


def _check_copy(store: Store, copy: CentralCopy, after: int, checkpoint: Checkpoint | None, complete: bool) -> None:
    prev_seq, prev_hash = after, None
    for body, _result, _reason in copy.items:
        seq = body.get("device_seq")
        if body.get("device_id") != store.device_id:
            raise ForkCheckFailed(f"The central's copy of this workstation's chain mixes in another device's "
                                  f"events near seq {prev_seq + 1}; nothing was changed. Call IT.")
        # The first event of the copy links to what this workstation checks against its own log later.
        broken = link_break(body, prev_seq + 1, prev_hash or body.get("prev_hash"),
                            recompute_hash(body) == body.get("hash"))
        if broken is not None:
            raise ForkCheckFailed(f"The central's copy of this workstation's chain is broken "
                                  f"({broken.detail}); nothing was changed. Call IT.")
        prev_seq, prev_hash = seq, body["hash"]
    if not complete or not copy.items:
        return
    if (prev_seq, prev_hash) != (copy.head_seq, copy.head_hash) or checkpoint is None or \
            (checkpoint.device_seq, checkpoint.hash) != (copy.head_seq, copy.head_hash):
        raise ForkCheckFailed("The central's copy of this workstation's chain does not end at a head this "
                              "workstation signed; nothing was changed. Call IT.")
    try:
        verify_checkpoint(checkpoint, store.public_key)
    except BadSignature:
        raise ForkCheckFailed("The central's copy of this workstation's chain is not signed with this "
                              "workstation's key; nothing was changed. Call IT.") from None


def inspect(store: Store, client: httpx.Client, retry) -> Plan | None:
    """Compare this store's own chain with the central's copy; a Plan when the central holds events
    of this device that the store lacks, else None."""
    base = forks.trusted_prefix(store)
    copy = central_copy(store, client, base, retry)
    if copy.head_seq <= base or not copy.items:
        return None
    mine = forks.own_hashes(store, base, copy.head_seq)
    fork_seq = None
    for body, _result, _reason in copy.items:
        if mine.get(body["device_seq"]) != (body["event_id"], body["hash"]):
            fork_seq = body["device_seq"]
            break
    if fork_seq is None:
        return None  # the store holds all the central holds (and maybe more): an ordinary push
    forked = max(0, store.head.device_seq - fork_seq + 1)
    return Plan(fork_seq, copy.head_seq, forked, base, copy)


def central_head(store: Store, client: httpx.Client, retry) -> int:
    """The highest seq of this device the central holds (one small request)."""
    return central_copy(store, client, store.head.device_seq, retry, limit=1, first_page_only=True).head_seq


def after_push(store: Store, client: httpx.Client, report, retry) -> dict:
    """What a sync does about this device's own chain after its push: returns {"fork", "taken_back"}.

    A store that only lacks events the central holds takes them back here; a fork is noted and left
    to an admin (see the module docstring); a break that is no fork is refused as before."""
    suspect = (report.chain_broken_at is not None or forks.refused_at_break(store)
               or forks.pending_fork(store) is not None)
    if not suspect:
        hgs = report.highest_gapless_seq
        suspect = (hgs if hgs is not None else central_head(store, client, retry)) > store.head.device_seq
    if not suspect:
        return {"fork": None, "taken_back": 0}
    plan = inspect(store, client, retry)
    if plan is None:
        forks.note_fork(store, None)
        if report.chain_broken_at is not None:
            at = report.chain_broken_at
            report.refused = {"error": CHAIN_BROKEN, "detail": report.chain_broken_detail, "device_seq": at}
            outbox.mark_refused(store, at, CHAIN_BROKEN, AFTER_BREAK)
        return {"fork": None, "taken_back": 0}
    if plan.forked_events == 0:
        done = forks.take_back(store, fork_seq=plan.fork_seq, central=plan.copy.items,
                               answered_from=plan.answered_from, confirmed_by=None,
                               reason="the central held more of this workstation's chain than its store")
        return {"fork": None, "taken_back": done["taken_back"]}
    fork = plan.summary(store)
    forks.note_fork(store, fork)
    return {"fork": fork, "taken_back": 0}


def recover_chain(store: Store, link, *, transport: httpx.BaseTransport | None = None, retry=None,
                  reason: str | None = None, progress: Callable[[int, int], None] | None = None) -> dict:
    """The admin's one confirmation: take this device's events back from the central, keep the
    forked ones as a recorded fork and re-record their content, then sync. Safe to run again."""
    from app.services import sync as sync_service

    access.require_admin(store)
    retry = retry or sync_service.Retry()
    with sync_service.http_client(link, transport) as client:
        plan = inspect(store, client, retry)
        if plan is None:
            forks.note_fork(store, None)
            done = None
        else:
            done = forks.take_back(store, fork_seq=plan.fork_seq, central=plan.copy.items,
                                   answered_from=plan.answered_from, confirmed_by=store.actor.user_id,
                                   reason=reason)
    report = {"recovered": done is not None, "fork_seq": done and done["fork_seq"],
              "central_head_seq": done and done["central_head_seq"], "taken_back": done["taken_back"] if done else 0,
              "forked": done["forked"] if done else 0, "fork_id": done and done["fork_id"]}
    try:
        report["sync"] = sync_service.sync(store, link, transport=transport, retry=retry, progress=progress)
    except sync_service.SyncError as err:
        report["sync"] = {"error": str(err), "kind": err.kind, "pending": outbox.pending_count(store)}
    return report


def list_forks(store: Store) -> list[dict]:
    """Recorded forks for a super-user or admin: when, from which seq, which events and what carries them."""
    access.require_supervisor(store)
    return forks.list_forks(store)
