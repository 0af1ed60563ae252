"""Syncing a workstation with the central over HTTP: push the outbox, then pull the unit's events.

Push sends batches of at most 1,000 events, each with a checkpoint signed over its last event,
and marks events only from the central's answers. Every step can be repeated safely: a lost
answer means the next push is answered ``duplicate``; a gap (the central holds less than we
thought) restarts from the central's ``highest_gapless_seq``. Network errors, timeouts and 5xx
answers are retried with exponential backoff and full jitter; then the sync stops with the
outbox intact, to resume next time from where it stopped.

A workstation talks only to the central it enrolled with: the URL, the TLS trust and the central's
signing key are pinned in the encrypted store at enrollment (app/services/enrollment.py). Every
answer to a push or a pull must carry the central's signature over that answer to this very
request (sync/answers.py); an answer that does not counts as no answer: nothing is marked, the
pull cursor does not move, and the sync stops with ``UnsignedAnswer``.
"""

from __future__ import annotations

import random
import shutil
import ssl
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

from app.services import disk
from app.services.backoff import backoff_ceiling
from app.store import eventlog, integrity, outbox, setaside
from app.store.errors import DiskFull
from app.store.store import Store
from sync import answers
from sync.errors import TideoverError
from sync.protocol import AFTER_BREAK, CHAIN_BROKEN, MAX_BATCH, RESULTS, RETRYABLE, push_request_json

DEFAULT_TIMEOUT = 30.0
LARGE_PULL_EVENTS = 500  # after a pull this large the WAL is cut back to zero bytes


class SyncError(TideoverError):
    """The sync could not be completed; the outbox is intact and the next sync resumes."""

    kind = "sync"


class CentralUnreachable(SyncError):
    kind = "central_unreachable"


class SyncRefused(SyncError):
    """The central refused a request (4xx): retrying the same request will not help."""

    kind = "sync_refused"

    def __init__(self, message: str, status: int = 0, body: dict | None = None):
        super().__init__(message)
        self.status, self.body = status, body or {}


class NotEnrolled(SyncError):
    kind = "not_enrolled"


class NotPinnedCentral(SyncError):
    """A central other than the one this workstation enrolled with (another URL or TLS trust)."""

    kind = "not_pinned_central"


class UnsignedAnswer(SyncError, answers.UnsignedAnswer):
    """An answer the pinned central did not sign for this request: taken as no answer at all."""

    kind = "unsigned_answer"


def same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


@dataclass(frozen=True)
class Link:
    """How to reach the central: its URL, this device's credential and the TLS trust (a CA bundle file
    at enrollment, the pinned PEM text afterwards)."""

    url: str
    credential: str | None = None
    ca_bundle: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    ca_pem: str | None = None

    @classmethod
    def from_store(cls, store: Store, url: str | None = None, ca_bundle: str | None = None) -> Link:
        """The pinned central. ``url`` and ``ca_bundle`` may only repeat what was pinned at enrollment:
        anything else raises NotPinnedCentral (an admin enrolls again to move to another central)."""
        meta = store.meta()
        pinned = meta.get("central_url")
        if not pinned:
            raise NotEnrolled("This workstation is not enrolled with a central: run `tideover enroll "
                              "--central URL --token TOKEN` (IT gives the token).")
        if not meta.get("central_credential"):
            raise NotEnrolled("This workstation has no device credential; enroll it with `tideover enroll`.")
        if url and not same_url(url, pinned):
            raise NotPinnedCentral(f"This workstation syncs only with the central it enrolled with ({pinned}), "
                                   f"not {url.rstrip('/')}. To move it to another central, an admin enrolls it "
                                   f"again with a token from that central.")
        ca_pem = meta.get("central_ca_pem") or None
        legacy = meta.get("central_ca_bundle") or None  # enrolled before the CA text was pinned
        if ca_bundle:
            given = _read_ca(ca_bundle)
            if given != (ca_pem if ca_pem else _read_ca(legacy) if legacy else None):
                raise NotPinnedCentral(f"{ca_bundle} is not the CA bundle this workstation trusted for its central "
                                       f"at enrollment; the pinned one is used. To change the central's TLS trust, "
                                       f"an admin enrolls the workstation again.")
        return cls(pinned, meta["central_credential"], None if ca_pem else legacy, ca_pem=ca_pem)


def _read_ca(path: str | Path) -> str:
    try:
        return Path(path).read_text()
    except OSError as err:
        raise SyncError(f"Cannot read the CA bundle {path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise SyncError(f"{path} is not a PEM CA bundle.") from None


def pinned_central_key(store: Store):
    """The central's Ed25519 signing key pinned at enrollment: every answer must verify with it."""
    text = store.meta().get("central_signing_key")
    if not text:
        raise NotEnrolled("This workstation does not know its central's signing key; an admin enrolls it with "
                          "`tideover enroll`.")
    try:
        return answers.public_key(text)
    except answers.UnsignedAnswer as err:
        raise UnsignedAnswer(str(err)) from None


@dataclass
class Retry:
    attempts: int = 6
    base: float = 0.25
    cap: float = 8.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, the backoff ceiling of ``attempt``] (``backoff.backoff_ceiling``)."""
        return self.rng.uniform(0, backoff_ceiling(attempt, self.base, self.cap))


def http_client(link: Link, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {link.credential}"} if link.credential else {}
    if link.ca_pem:
        verify = ssl.create_default_context(cadata=link.ca_pem)
    else:
        verify = ssl.create_default_context(cafile=link.ca_bundle) if link.ca_bundle else True
    return httpx.Client(base_url=link.url.rstrip("/"), headers=headers, timeout=link.timeout,
                        transport=transport, verify=verify)


def _decode(resp: httpx.Response) -> dict:
    """A 2xx/409 answer of the central as a dict (orjson: a push answer holds 1,000 results)."""
    try:
        body = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        raise SyncError(f"The central's answer ({resp.status_code}) is not JSON; is the URL the central's?") from None
    if not isinstance(body, dict):
        raise SyncError(f"The central's answer ({resp.status_code}) is not understood.")
    return body


def _error_body(resp: httpx.Response) -> dict:
    try:
        body = resp.json()
        return body if isinstance(body, dict) else {}
    except ValueError:
        return {}


def check_signed(resp: httpx.Response, key, path: str, nonce: str) -> None:
    """Raise UnsignedAnswer unless the central's pinned ``key`` signed this answer to this request."""
    request = resp.request
    query = request.url.query.decode("ascii")
    target = f"{path}?{query}" if query else path
    mine = answers.request_digest(request.content)
    digest = resp.headers.get(answers.DIGEST_HEADER, "")
    refused_unread = digest == answers.NOT_READ and 400 <= resp.status_code < 500 and resp.status_code != 409
    try:
        if digest != mine and not refused_unread:
            raise answers.UnsignedAnswer("The answer is for another request.")
        answers.verify_answer(key, resp.headers.get(answers.SIGNATURE_HEADER), resp.status_code, request.method,
                              target, nonce, digest, resp.content)
    except answers.UnsignedAnswer as err:
        raise UnsignedAnswer(f"The answer from {resp.url.scheme}://{resp.url.netloc.decode()} to {request.method} "
                             f"{path} is not signed by the central this workstation enrolled with ({err}) and was "
                             f"not taken: nothing was marked synced and nothing was applied. Someone may be "
                             f"intercepting the network; tell IT.") from None


def call(client: httpx.Client, method: str, path: str, retry: Retry, *, answer_key=None, **kw) -> httpx.Response:
    """One request, retried on network errors, timeouts and 5xx; 2xx and 409 are returned, 4xx raised.

    With ``answer_key`` (the pinned central's key) each try carries a fresh nonce and the answer must be
    signed for it (``check_signed``); an unsigned answer raises UnsignedAnswer and is not retried."""
    last = ""
    for attempt in range(retry.attempts):
        nonce = answers.new_nonce()
        if answer_key is not None:
            kw["headers"] = {**(kw.get("headers") or {}), answers.NONCE_HEADER: nonce}
        try:
            resp = client.request(method, path, **kw)
        except httpx.TransportError as err:
            last = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        else:
            if answer_key is not None and (resp.status_code < 500 and resp.status_code != 429):
                check_signed(resp, answer_key, path, nonce)
            if resp.status_code < 300 or resp.status_code == 409:
                return resp
            body = _error_body(resp)
            if resp.status_code < 500 and resp.status_code != 429:
                raise SyncRefused(f"The central refused the request ({resp.status_code} "
                                  f"{body.get('error', '')}): {body.get('detail', resp.text[:200])}",
                                  resp.status_code, body)
            last = f"HTTP {resp.status_code} {body.get('detail', '')}".strip()
        if attempt + 1 < retry.attempts:
            retry.sleep(retry.delay(attempt))
    raise CentralUnreachable(f"The central at {client.base_url} did not answer after {retry.attempts} tries "
                             f"({last}). Everything is kept in the outbox; sync again later.")


@dataclass
class PushReport:
    sent: int = 0
    results: Counter = field(default_factory=Counter)
    refused: dict | None = None
    highest_gapless_seq: int | None = None
    chain_broken_at: int | None = None  # left to chain_recovery.after_push: a restore, or a real break
    chain_broken_detail: str | None = None
    clock_offset_s: float | None = None  # this device's clock minus the central's, as it measured


def push(store: Store, client: httpx.Client, *, retry: Retry | None = None, batch_size: int = MAX_BATCH,
         progress: Callable[[int, int], None] | None = None, in_flight: int = 2) -> PushReport:
    """Push every pending event of this device; mark each from the central's answer.

    Up to ``in_flight`` batches travel at once, on separate connections, so the central checks
    one batch while it commits the one before (it takes them in chain order, waiting briefly for
    a batch that overtook its predecessor). The workstation records answers meanwhile; the store
    itself is only used from this thread.
    """
    retry = retry or Retry()
    batch_size = max(1, min(batch_size, MAX_BATCH))
    report = PushReport()
    start = first = outbox.first_pending_seq(store)
    total = outbox.pending_count(store)
    key = outbox.signing_key(store)
    central_key = pinned_central_key(store)
    limit, restarts = batch_size, 0
    window: deque = deque()
    with ThreadPoolExecutor(max_workers=max(1, in_flight), thread_name_prefix="tideover-push") as sender:
        while start is not None or window:
            while start is not None and len(window) < max(1, in_flight):
                rows = outbox.batch_from(store, start, limit)
                if not rows:
                    start = None
                    break
                cp = outbox.sign_at(store, rows[-1].device_seq, rows[-1].hash, key)
                left = max(0, total - (rows[-1].device_seq - first + 1))  # still pending after this batch
                body = push_request_json(store.device_id, cp, [r.body for r in rows], left,
                                         device_clock=store.clock.now_iso())
                window.append((rows, sender.submit(call, client, "POST", "/v1/push", retry, content=body,
                                                   headers={"Content-Type": "application/json"},
                                                   answer_key=central_key)))
                start, limit = rows[-1].device_seq + 1, batch_size
            if not window:
                break
            rows, answer_of = window.popleft()
            resp = answer_of.result()
            answer = _decode(resp)
            report.highest_gapless_seq = answer.get("highest_gapless_seq", report.highest_gapless_seq)
            if isinstance(answer.get("clock_offset_s"), (int, float)):
                report.clock_offset_s = float(answer["clock_offset_s"])
            if resp.status_code != 409:
                _record(store, (rows, answer["results"]), report, total, progress)
                continue
            for later_rows, later in window:  # let the batches after it land; their answers still count
                later_resp = later.result()
                if later_resp.status_code != 409:
                    _record(store, (later_rows, _decode(later_resp)["results"]), report, total, progress)
            window.clear()
            restarts += 1
            if restarts > 20:
                raise SyncError(f"The central keeps refusing this device's chain ({answer.get('error')}).")
            start, limit = _after_refusal(store, answer, rows, batch_size, report)
    return report


def _record(store: Store, unanswered: tuple, report: PushReport, total: int,
            progress: Callable[[int, int], None] | None) -> None:
    rows, results = unanswered
    outbox.apply_answers(store, results)
    report.sent += len(rows)
    report.results.update(r["result"] for r in results)
    if progress:
        progress(report.sent, total)


def _after_refusal(store: Store, answer: dict, rows: list, batch_size: int,
                   report: PushReport) -> tuple[int | None, int]:
    """Where to go on after a 409: (next start seq or None to stop, next batch limit)."""
    error, at = answer.get("error"), answer.get("device_seq")
    hgs = answer.get("highest_gapless_seq")
    if error in RETRYABLE and hgs is not None:
        return hgs + 1, batch_size  # the central holds less than we sent from: send from where it stands
    if isinstance(at, int) and at > rows[0].device_seq:
        return rows[0].device_seq, at - rows[0].device_seq  # send the part before the break on its own
    if error == CHAIN_BROKEN and isinstance(at, int):
        # Nothing is marked yet: the central may hold more of this chain (a restored store).
        report.chain_broken_at, report.chain_broken_detail = at, answer.get("detail")
        return None, batch_size
    report.refused = {"error": error, "detail": answer.get("detail"), "device_seq": at}
    if isinstance(at, int):
        outbox.mark_refused(store, at, error or "refused", AFTER_BREAK)
    return None, batch_size


def pull(store: Store, client: httpx.Client, *, retry: Retry | None = None,
         free_space: disk.FreeSpace = shutil.disk_usage) -> int:
    """Apply the unit's events from other devices, page by page; the cursor is kept in store meta.

    Raises disk.PullStopped (with what was kept) when the disk falls under the capture reserve or fills.
    """
    retry = retry or Retry()
    cursor = int(store.meta().get("pull_cursor", "0") or 0)
    central_key = pinned_central_key(store)
    applied = 0
    try:
        while True:
            disk.check_room(store, free_space, pulled=applied)
            resp = call(client, "GET", "/v1/pull", retry, params={"after": cursor}, answer_key=central_key)
            page = _decode(resp)
            try:
                if page["events"]:
                    applied += eventlog.ingest_remote(store, page["events"])
                if page["cursor"] != cursor:
                    cursor = page["cursor"]
                    store.set_meta("pull_cursor", str(cursor))
            except DiskFull:
                raise disk.pull_disk_full(applied) from None
            if not page["more"]:
                return applied
    finally:
        if applied >= LARGE_PULL_EVENTS:
            _compact(store)


def _compact(store: Store) -> None:
    try:
        integrity.compact_wal(store)
    except DiskFull:
        pass  # the WAL keeps its size until the next large pull; nothing is lost


def report_set_aside(store: Store, client: httpx.Client, *, retry: Retry | None = None) -> int:
    """Tell the central which pulled events this workstation set aside (``POST /v1/set-aside``), so
    IT sees them; returns how many were reported. A central that refuses the report (an older one)
    leaves them to be reported at a later sync: the pull itself never waits on this."""
    retry = retry or Retry()
    reported = 0
    while rows := setaside.unreported(store):
        body = orjson.dumps({"reports": [{k: r[k] for k in ("event_id", "reason", "detail")} for r in rows]})
        try:
            call(client, "POST", "/v1/set-aside", retry, content=body, headers={"Content-Type": "application/json"})
        except SyncRefused:
            return reported
        setaside.mark_reported(store, [r["id"] for r in rows], store.clock.now_iso())
        reported += len(rows)
    return reported


def sync(store: Store, link: Link, *, transport: httpx.BaseTransport | None = None, retry: Retry | None = None,
         progress: Callable[[int, int], None] | None = None, batch_size: int = MAX_BATCH,
         free_space: disk.FreeSpace = shutil.disk_usage) -> dict:
    """Push then pull; returns the summary the CLI prints (counts per result, pulled, pending left).

    Only with the central this workstation enrolled with: ``link.url`` must be the pinned URL.
    A pull stopped by the disk (its reserve or a full disk) still returns the summary, with
    ``pull_stopped`` and a ``message`` that says what was and was not saved.
    """
    pinned = store.meta().get("central_url")
    if not pinned:
        raise NotEnrolled("This workstation is not enrolled with a central: run `tideover enroll "
                          "--central URL --token TOKEN` (IT gives the token).")
    if not same_url(link.url, pinned):
        raise NotPinnedCentral(f"This workstation syncs only with the central it enrolled with ({pinned}), not "
                               f"{link.url.rstrip('/')}; an admin enrolls it again to move it.")
    from app.services import chain_recovery

    retry = retry or Retry()
    stopped = None
    with http_client(link, transport) as client:
        try:
            report = push(store, client, retry=retry, batch_size=batch_size, progress=progress)
        except DiskFull:
            raise DiskFull("The disk is full: the central may hold events pushed just now, but this workstation "
                           "could not note its answers, and nothing was pulled. Nothing is lost: the next sync "
                           "sends them again and the central answers 'duplicate'. Free space (call IT); if "
                           "captures fail too, switch to paper downtime forms.") from None
        if report.highest_gapless_seq is not None:  # from a signed answer: where a bundle export starts
            store.set_meta("central_held_seq", str(int(report.highest_gapless_seq)))
        own = chain_recovery.after_push(store, client, report, retry)
        if own["taken_back"]:  # the record of the take-back is itself an event to send
            again = push(store, client, retry=retry, batch_size=batch_size, progress=progress)
            report.sent += again.sent
            report.results.update(again.results)
            report.highest_gapless_seq, report.refused = again.highest_gapless_seq, again.refused
        pulled, set_aside_before = 0, setaside.count(store)
        if report.refused is None:
            try:
                pulled = pull(store, client, retry=retry, free_space=free_space)
            except disk.PullStopped as err:
                pulled, stopped = err.pulled, err
            report_set_aside(store, client, retry=retry)
    now = store.clock.now_iso()
    not_noted = None
    try:
        store.checkpoint("sync")
        store.set_meta("last_sync", now)
        if report.clock_offset_s is not None:
            record_clock_offset(store, report.clock_offset_s, now)
    except DiskFull:
        if stopped is None:
            raise
        # The pull already stopped for the disk: say so with it (below), not as a second failure.
        not_noted = "this sync's signed checkpoint and time could not be written either (the next sync writes them)"
    summary = {"central": link.url, "pushed": report.sent,
               "results": {r: report.results.get(r, 0) for r in RESULTS},
               "pulled": pulled, "set_aside": setaside.count(store) - set_aside_before,
               "pending": outbox.pending_count(store),
               "held_back": outbox.held_back(store)[:50],
               "highest_gapless_seq": report.highest_gapless_seq, "refused": report.refused, "at": now,
               "pull_stopped": None, "fork": own["fork"], "taken_back": own["taken_back"],
               "clock_offset_s": report.clock_offset_s}
    if stopped is not None:
        summary["pull_stopped"] = stopped.reason
        summary["message"] = f"pushed {report.sent} events (the central holds them); {stopped}"
        if not_noted:
            summary["checkpoint_written"] = False
            summary["message"] += f"; {not_noted}"
    return summary


def record_clock_offset(store: Store, offset_s: float, at: str) -> None:
    """Keep the offset of this workstation's clock the central measured (shown by status and the banner)."""
    store.set_meta("clock_offset_s", repr(round(offset_s, 3)))
    store.set_meta("clock_checked_at", at)
