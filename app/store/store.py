"""The encrypted workstation store: one SQLCipher file, its keyring, the event log and projections.

``Store.create`` sets up a workstation; ``Store.open`` unlocks it for one user. Everything that
changes data goes through ``Store.record`` (or ``record_many``): one transaction that chains,
appends, marks the event pending sync and updates the projections.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import sqlite_utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from sync.canonical import GENESIS_HASH, canonical_json
from sync.checkpoint import (
    Checkpoint,
    load_private_key,
    new_signing_key,
    private_key_bytes,
    public_key_text,
    sign_checkpoint,
)
from sync.clock import Clock
from sync.errors import ChainBroken, InvalidEvent, NotGranted
from sync.events import (
    ID_PATTERN,
    Actor,
    Event,
    describe_validation,
    new_id,
    seal,
    verify_chain,
    verify_fragments,
)
from sync.grants import (
    DEVICE_SIGNER,
    TRUST_TYPES,
    GrantBook,
    first_admin_text,
    grant_text,
    sign,
)

from . import setaside
from .database import DB_NAME, KEYRING_NAME, open_encrypted, store_errors, transaction
from .errors import (
    AccountLocked,
    AlreadyInitialized,
    NotInitialized,
    NotPermitted,
    StoreError,
    TooSoon,
    WrongPassword,
    WrongStore,
)
from .keyring import BREAK_GLASS_ID, Keyring, keyring_lock
from .migrations import apply_migrations
from .passwords import check_new_password
from .projections import Projector, digest, rebuild

SYSTEM_ACTOR = {"user_id": "system", "display_name": "Tideover workstation", "role": "admin"}
DEFAULT_SETTINGS = {"min_password_length": 15, "lockout_limit": 10, "auto_lock_seconds": 300,
                    "mode": "downtime"}


def unlock_delay(failed_count: int) -> float:
    """Seconds before the next try after ``failed_count`` failures: none for two, then doubling to 5 min."""
    return 0.0 if failed_count < 3 else float(min(2 ** (failed_count - 3), 300))


@dataclass(frozen=True)
class Head:
    device_seq: int
    hash: str


class Store:
    """An unlocked workstation store, signed in as ``actor``. Not thread-safe: one worker uses it."""

    def __init__(self, data_dir: Path, db: sqlite_utils.Database, keyring: Keyring, actor: Actor,
                 clock: Clock, data_key: bytes, user_key: Ed25519PrivateKey | None = None):
        self.data_dir, self.db, self.keyring, self.actor, self.clock = data_dir, db, keyring, actor, clock
        self._data_key = data_key  # kept to wrap the key for users added in this session
        self._user_key = user_key  # the signed-in user's own key: signs the role grants they make
        self._vouching = False  # set only while site recovery records a grant vouched by the device key
        meta = self.meta()
        self.site_id, self.unit_id, self.device_id = meta["site_id"], meta["unit_id"], meta["device_id"]
        self.settings = {**DEFAULT_SETTINGS, **json.loads(meta.get("settings", "{}"))}
        self._signing_key = load_private_key(bytes.fromhex(meta["signing_key"]))
        self._projector = Projector(db)
        self._head = self._read_head()
        # A new process starts its clock from the log, so a wall clock that stepped back can
        # never order a new event before ones already recorded.
        for seen in (self._head_hlc(), meta.get("max_remote_hlc")):
            if seen:
                self.clock.observe(seen)

    # -- setting up and unlocking ------------------------------------------------------------
    @classmethod
    def create(cls, data_dir: Path, *, site_id: str, unit_id: str, admin_id: str, admin_name: str,
               password: str, recovery_public_pem: bytes | None = None, settings: dict | None = None,
               clock: Clock | None = None) -> tuple[Store, str]:
        """Set up a new workstation store; returns it and the one-time break-glass code."""
        clock = clock or Clock()
        data_dir = Path(data_dir)
        settings = {**DEFAULT_SETTINGS, **(settings or {})}
        if not 1 <= int(settings["lockout_limit"]) <= 100:
            raise StoreError("The lockout limit must be between 1 and 100 failed unlocks.")
        check_new_password(password, min_length=int(settings["min_password_length"]),
                           context=(admin_id, admin_name, site_id, unit_id))
        for what, value in (("site", site_id), ("unit", unit_id)):
            if not re.fullmatch(ID_PATTERN, value or ""):
                raise StoreError(f"The {what} id {value!r} may hold only letters, digits and . _ : - "
                                 f"(at most 64, no spaces).")
        try:
            admin = Actor(user_id=admin_id, display_name=admin_name, role="admin")
        except ValidationError as err:
            raise StoreError(f"The admin user cannot be made: {describe_validation(err)}") from None
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if (data_dir / KEYRING_NAME).exists() or (data_dir / DB_NAME).exists():
            raise AlreadyInitialized(f"{data_dir} already holds a Tideover store.")
        device_id = new_id()
        data_key = secrets.token_bytes(32)
        break_glass = "-".join(secrets.token_hex(3).upper() for _ in range(5))
        keyring = Keyring(site_id, unit_id, device_id,
                          policy={"lockout_limit": int(settings["lockout_limit"]),
                                  "min_password_length": int(settings["min_password_length"])})
        admin_key = new_signing_key()
        keyring.add_user(admin_id, password, data_key, signing_key=admin_key)
        keyring.add_user(BREAK_GLASS_ID, break_glass, data_key)
        if recovery_public_pem:
            keyring.seal_to_recovery(data_key, recovery_public_pem)
        db = open_encrypted(data_dir / DB_NAME, data_key)
        try:
            apply_migrations(db)
            key = new_signing_key()
            with transaction(db) as conn:
                conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [
                    ("site_id", site_id), ("unit_id", unit_id), ("device_id", device_id),
                    ("signing_key", private_key_bytes(key).hex()), ("settings", json.dumps(settings)),
                    ("created_at", clock.now_iso())])
            store = cls(data_dir, db, keyring, admin, clock, data_key, user_key=admin_key)
            # The device key vouches for the first admin's key; the admin then grants themselves with it.
            admin_public = public_key_text(admin_key)
            first_admin = {"user_id": admin_id, "public_key": admin_public,
                           "signature": sign(key, first_admin_text(device_id, admin_id, admin_public))}
            store.record("device.initialized", {"public_key": public_key_text(key),
                                                "recovery_wrapped": bool(recovery_public_pem),
                                                "settings": settings, "first_admin": first_admin},
                         actor=SYSTEM_ACTOR)
            store._grant("user.added", admin_id, admin_name, "admin", admin_public)
            # The keyring last: until it exists there is no store, and a failed init can run again.
            keyring.save(data_dir / KEYRING_NAME)
        except BaseException:
            db.conn.close()
            for suffix in ("", "-wal", "-shm"):
                (data_dir / (DB_NAME + suffix)).unlink(missing_ok=True)
            raise
        store.record("access.sign_in", {"method": "password"})
        return store, break_glass

    @classmethod
    def open(cls, data_dir: Path, user_id: str, password: str, clock: Clock | None = None) -> Store:
        """Unlock for ``user_id``; failures are counted, slowed and recorded (see keyring.py)."""
        clock = clock or Clock()
        data_dir = Path(data_dir)
        if user_id == BREAK_GLASS_ID:
            raise NotPermitted("The break-glass code is used through break-glass sign-in, with your name and "
                               "a reason.")
        with keyring_lock(data_dir) if data_dir.exists() else _no_store(data_dir):
            keyring = _load_keyring(data_dir)
            data_key, user_key = _unwrap_counted(data_dir, keyring, user_id, password, clock)
        db = _open_db(data_dir, keyring, data_key)
        try:
            actor = _actor_for(db, keyring.device_id, user_id)
        except BaseException:
            db.conn.close()
            raise
        store = cls(data_dir, db, keyring, actor, clock, data_key, user_key=user_key)
        store._record_pending_failures()
        store._upgrade_grants(password)
        store.record("access.sign_in", {"method": "password"})
        return store

    @classmethod
    def open_break_glass(cls, data_dir: Path, code: str, reason: str, user_name: str,
                         clock: Clock | None = None) -> Store:
        """Emergency unlock with the sealed break-glass code; the sign-in is flagged for review."""
        if len((reason or "").strip()) < 10:
            raise NotPermitted("Break-glass access needs a reason of at least 10 characters.")
        if not (user_name or "").strip():
            raise NotPermitted("Break-glass access needs the name of the person using it.")
        clock = clock or Clock()
        data_dir = Path(data_dir)
        with keyring_lock(data_dir) if data_dir.exists() else _no_store(data_dir):
            keyring = _load_keyring(data_dir)
            data_key, _no_key = _unwrap_counted(data_dir, keyring, BREAK_GLASS_ID, code, clock)
        db = _open_db(data_dir, keyring, data_key)
        actor = Actor(user_id=BREAK_GLASS_ID, display_name=f"Break-glass: {user_name.strip()}"[:120],
                      role="nurse")
        store = cls(Path(data_dir), db, keyring, actor, clock, data_key)
        store._record_pending_failures()
        store.record("access.sign_in", {"method": "break_glass", "reason": reason.strip()})
        return store

    @classmethod
    def recover(cls, data_dir: Path, recovery_private_pem: bytes, passphrase: bytes | None,
                new_admin_id: str, new_admin_name: str, new_password: str,
                clock: Clock | None = None) -> Store:
        """IT recovery: open with the site recovery key and enroll a new admin user."""
        clock = clock or Clock()
        keyring = _load_keyring(Path(data_dir))
        data_key = keyring.unwrap_with_recovery(recovery_private_pem, passphrase)
        check_new_password(new_password, min_length=int(keyring.policy.get("min_password_length", 15)),
                           context=(new_admin_id, new_admin_name))
        if new_admin_id in keyring.users:
            raise StoreError(f"There is already a user '{new_admin_id}'; choose a new admin id.")
        db = _open_db(Path(data_dir), keyring, data_key)
        admin_key = new_signing_key()
        keyring = _update_keyring(Path(data_dir), lambda kr: kr.add_user(new_admin_id, new_password, data_key,
                                                                          signing_key=admin_key))
        store = cls(Path(data_dir), db, keyring, Actor(**SYSTEM_ACTOR), clock, data_key)
        # No admin is left to sign the grant: the device key vouches for it (see docs: Trust model).
        store._grant("user.added", new_admin_id, new_admin_name, "admin", public_key_text(admin_key),
                     by_device=True)
        store.actor = Actor(user_id=new_admin_id, display_name=new_admin_name, role="admin")
        store._user_key = admin_key
        store.record("access.sign_in", {"method": "password", "reason": "site recovery key"})
        return store

    def close(self, why: str = "exit") -> None:
        if self.db is None:
            return
        try:
            self.record("access.locked", {"why": why})
            self.checkpoint("lock")
        finally:
            self.db.conn.close()
            self.db = None

    # -- users ------------------------------------------------------------------------------
    def add_user(self, user_id: str, display_name: str, role: str, password: str) -> None:
        self.require_role("admin")
        if self.db.execute("SELECT 1 FROM users WHERE user_id = ?", [user_id]).fetchone() or \
                user_id in self.keyring.users:
            raise StoreError(f"There is already a user '{user_id}'.")
        check_new_password(password, min_length=int(self.settings["min_password_length"]),
                           context=(user_id, display_name, self.site_id, self.unit_id))
        self._require_signing_key()
        data_key, key = self._data_key, new_signing_key()
        # The key first: a user recorded without a key could never sign in nor be added again.
        self.keyring = _update_keyring(self.data_dir, lambda kr: kr.add_user(user_id, password, data_key,
                                                                             signing_key=key))
        self._grant("user.added", user_id, display_name, role, public_key_text(key))

    def change_role(self, user_id: str, role: str) -> None:
        """Give a user another role (admin only), as a grant signed with the admin's own key."""
        self.require_role("admin")
        self._require_signing_key()
        held = self.grant_book().users.get(user_id)
        row = self.db.execute("SELECT display_name FROM users WHERE user_id = ?", [user_id]).fetchone()
        if held is None or row is None:
            raise StoreError(f"There is no user '{user_id}'.")
        if held[1] is None:
            raise StoreError(f"'{user_id}' has no signing key yet: they sign in once, then their role can change.")
        if held[0] == role:
            raise StoreError(f"'{user_id}' is a {role.replace('_', ' ')} already.")
        self._grant("user.role_changed", user_id, row[0], role, held[1])

    def _require_signing_key(self) -> None:
        if self._user_key is None:
            raise NotPermitted("Your account has no signing key on this workstation, so it cannot grant roles; "
                               "sign out and sign in again with your password.")

    def _grant(self, type_: str, user_id: str, display_name: str, role: str, public_key: str, *,
               by_device: bool = False) -> Event:
        """Record a role grant signed by the signed-in admin's key (or, for site recovery, the device's)."""
        event_id = new_id()
        payload = {"user_id": user_id, "display_name": display_name, "role": role, "public_key": public_key,
                   "granted_by": DEVICE_SIGNER if by_device else self.actor.user_id}
        key = self._signing_key if by_device else self._user_key
        if key is None:
            self._require_signing_key()
        payload["signature"] = sign(key, grant_text(self.device_id, event_id, payload))
        self._vouching = by_device
        try:
            return self.record(type_, payload, actor=SYSTEM_ACTOR if by_device else None, event_id=event_id)
        finally:
            self._vouching = False

    def grant_book(self) -> GrantBook:
        """Who holds which role on this workstation, from its own chain (see sync/grants.py)."""
        with store_errors():
            return _grant_book(self.db, self.device_id)

    def _upgrade_grants(self, password: str) -> None:
        """A store made before user keys: seal its unsigned grants, and give this user a signing key."""
        book = self.grant_book()
        if not book.legacy or self.actor.user_id not in book.users:
            return
        if not book.sealed:
            self.record("device.grants_sealed", {"users": sorted(book.users)}, actor=SYSTEM_ACTOR)
        if self._user_key is None and book.users[self.actor.user_id][1] is None:
            key, user_id = new_signing_key(), self.actor.user_id
            self.keyring = _update_keyring(self.data_dir, lambda kr: kr.add_signing_key(user_id, password, key))
            self._user_key = key
            self.record("user.key_bound", {"user_id": user_id, "public_key": public_key_text(key)})

    def unlock_account(self, user_id: str) -> None:
        """Clear a user's failed-unlock lock (admin only)."""
        self.require_role("admin")
        if user_id not in self.keyring.users or user_id == BREAK_GLASS_ID:
            raise StoreError(f"There is no user '{user_id}'.")

        def clear(kr: Keyring) -> None:
            uk = kr.users[user_id]
            uk.failed_count, uk.not_before, uk.locked = 0, 0.0, False

        self.keyring = _update_keyring(self.data_dir, clear)
        self.record("access.account_unlocked", {"what": "account", "target_id": user_id})

    def require_role(self, *roles: str) -> None:
        if self.actor.role not in roles:
            raise NotPermitted(f"Only a {' or '.join(r.replace('_', ' ') for r in roles)} may do this; "
                               f"you are signed in as {self.actor.role.replace('_', ' ')}.")

    # -- recording events -------------------------------------------------------------------
    def record(self, type: str, payload: dict, *, actor: dict | Actor | None = None, **fields) -> Event:
        """Chain, append and project one event in one transaction; return it once it is durable."""
        return self.record_many([(type, payload, actor, fields)])[0]

    def record_many(self, items: list[tuple[str, dict, dict | Actor | None, dict]]) -> list[Event]:
        """Record several events in one transaction: all of them, or (on any error) none.

        The chain head is read inside the write transaction, so another process that wrote to
        this store in between (a CLI command beside the desktop app) cannot fork the chain.
        """
        events: list[Event] = []
        book = None
        with store_errors():
            try:
                with transaction(self.db):
                    head = self._read_head()
                    for type_, payload, actor, fields in items:
                        ev = self._seal(type_, payload, actor, fields, head)
                        if type_ in TRUST_TYPES:
                            book = book or _grant_book(self.db, self.device_id)
                            self._check_grant(book, ev.body())
                        self._append(ev)
                        events.append(ev)
                        head = Head(ev.device_seq, ev.hash)
                    self._projector.flush()
            finally:
                self._projector.forget()
        self._head = head
        return events

    def _check_grant(self, book: GrantBook, body: dict) -> None:
        """Refuse a grant that is unsigned, wrongly signed or signed by someone who is not an admin."""
        problem = book.problem(body)
        if problem is None and body["payload"].get("granted_by") == DEVICE_SIGNER and not self._vouching:
            problem = ("grant_invalid", "only site recovery records a grant vouched by the device key")
        if problem is not None:
            raise NotPermitted(f"The {body['type']} event was refused: {problem[1]}.")
        book.take(body)

    def _seal(self, type_: str, payload: dict, actor, fields: dict, head: Head) -> Event:
        actor = actor or self.actor
        actor = actor.model_dump() if isinstance(actor, Actor) else actor
        now = self.clock.now_iso()
        base = {
            "event_id": new_id(), "type": type_, "site_id": self.site_id, "unit_id": self.unit_id,
            "device_id": self.device_id, "device_seq": head.device_seq + 1, "actor": actor,
            "occurred_at": now, "recorded_at": now, "hlc": self.clock.tick(),
            "source": f"workstation:{self.device_id}", "correlation_id": fields.get("task_id") or new_id(),
            "mode": self.settings.get("mode", "downtime"), "payload": payload,
        }
        base.update({k: v for k, v in fields.items() if v is not None})
        return seal(base, head.hash)

    def _append(self, ev: Event) -> int:
        body = ev.body()
        cur = self.db.conn.execute(
            "INSERT INTO events (event_id, device_id, device_seq, type, task_id, hlc, hash, body)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [ev.event_id, ev.device_id, ev.device_seq, ev.type, ev.task_id, ev.hlc, ev.hash,
             canonical_json(body)])
        seq = cur.lastrowid
        self._projector.apply(body, seq)
        return seq

    def ingest_remote(self, bodies: list[dict]) -> int:
        """Store and project events pulled from other devices; one it cannot take is set aside
        (``setaside.py``) and the rest are taken all the same. Returns how many are new."""
        from sync.events import parse_event
        from sync.protocol import is_shared_type

        new, max_hlc = 0, None
        with store_errors():
            try:
                with transaction(self.db):
                    now = self.clock.now_iso()
                    for body in bodies:
                        try:
                            ev = parse_event(body)
                        except (InvalidEvent, ChainBroken) as err:  # never blocks what follows it
                            setaside.record(self.db.conn, body, err, now)
                            continue
                        if ev.device_id == self.device_id or not is_shared_type(ev.type):
                            continue  # users, roles and sign-ins never come from another device
                        if self.db.execute("SELECT 1 FROM events WHERE event_id = ? OR (device_id = ? AND "
                                           "device_seq = ?)", [ev.event_id, ev.device_id,
                                                               ev.device_seq]).fetchone():
                            continue
                        if self.clock.observe(ev.hlc):
                            max_hlc = max(max_hlc or ev.hlc, ev.hlc)
                        self._append(ev)
                        new += 1
                    self._projector.flush()
                    if max_hlc:
                        self.db.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('max_remote_hlc', "
                                             "max(?, coalesce((SELECT value FROM meta WHERE key = "
                                             "'max_remote_hlc'), '')))", [max_hlc])
            finally:
                self._projector.forget()
        return new

    def _record_pending_failures(self) -> None:
        if not self.keyring.pending_failures:
            return
        with keyring_lock(self.data_dir):
            keyring = _load_keyring(self.data_dir)
            if keyring.pending_failures:
                # A keyring or counter file restored from an older copy may list failures the
                # chain already holds: each is recorded once.
                held = self._failures_held()
                fresh = [f for f in _valid_failures(keyring.pending_failures) if _key(f) not in held]
                if fresh:
                    self.record_many([("access.unlock_failed", f, SYSTEM_ACTOR, {}) for f in fresh])
                keyring.pending_failures = []
                keyring.save(self.data_dir / KEYRING_NAME)
            self.keyring = keyring

    def _failures_held(self) -> set[str]:
        with store_errors():
            rows = self.db.execute("SELECT body FROM events WHERE type = 'access.unlock_failed'").fetchall()
        return {_key(orjson.loads(body)["payload"]) for (body,) in rows}

    # -- sync state -------------------------------------------------------------------------
    # An own event is pending until an answer for it is recorded here; see migrations.py.
    def sync_watermark(self) -> int:
        with store_errors():
            row = self.db.execute("SELECT value FROM meta WHERE key = 'sync_watermark'").fetchone()
        return int(row[0]) if row else 0

    def pending_count(self) -> int:
        mark = self.sync_watermark()
        with store_errors():
            answered = self.db.execute("SELECT count(*) FROM sync_state WHERE device_seq > ?", [mark]).fetchone()[0]
        return self._head.device_seq - mark - answered

    def record_sync_answers(self, answers: list[dict]) -> int:
        """Store the central's answers for own events and advance the watermark; returns rows written.

        Each answer: ``{"device_seq", "event_id", "state": synced|quarantined|rejected, "result",
        "reason"}``. An answer for an event this device does not hold is refused (nothing written).
        """
        now = self.clock.now_iso()
        if not answers:
            return 0
        seqs = [a["device_seq"] for a in answers]
        with store_errors(), transaction(self.db) as conn:
            # One range read and one executemany: a sync answers up to 1,000 events at a time.
            held = dict(conn.execute("SELECT device_seq, event_id FROM events WHERE device_id = ? AND device_seq"
                                     " BETWEEN ? AND ?", [self.device_id, min(seqs), max(seqs)]).fetchall())
            for a in answers:
                if held.get(a["device_seq"]) != a["event_id"]:
                    raise StoreError(f"The answer for seq {a['device_seq']} names an event this workstation "
                                     f"does not hold; nothing was marked.")
            conn.executemany("INSERT OR REPLACE INTO sync_state (device_seq, event_id, state, result, reason,"
                             " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                             [[a["device_seq"], a["event_id"], a["state"], a.get("result") or a["state"],
                               a.get("reason"), now] for a in answers])
            mark = int((conn.execute("SELECT value FROM meta WHERE key = 'sync_watermark'").fetchone()
                        or ["0"])[0])
            for (seq,) in conn.execute("SELECT device_seq FROM sync_state WHERE device_seq > ? ORDER BY device_seq",
                                       [mark]).fetchall():
                if seq != mark + 1:
                    break
                mark = seq
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('sync_watermark', ?)", [str(mark)])
        return len(answers)

    def sync_state_of(self, event_id: str) -> str:
        """'pending', 'synced', 'quarantined' or 'rejected' for one of this device's events."""
        rows = self.query("SELECT e.device_seq, s.state FROM events e LEFT JOIN sync_state s ON "
                          "s.device_seq = e.device_seq WHERE e.event_id = ? AND e.device_id = ?",
                          [event_id, self.device_id])
        if not rows:
            raise StoreError(f"Event {event_id} is not one of this workstation's events.")
        return rows[0]["state"] or "pending"

    # -- chain, checkpoints, audit ----------------------------------------------------------
    def _head_hlc(self) -> str | None:
        row = self.db.execute("SELECT hlc FROM events WHERE device_id = ? ORDER BY device_seq DESC LIMIT 1",
                              [self.device_id]).fetchone()
        return row[0] if row else None

    def _read_head(self) -> Head:
        row = self.db.execute("SELECT device_seq, hash FROM events WHERE device_id = ? "
                              "ORDER BY device_seq DESC LIMIT 1", [self.device_id]).fetchone()
        return Head(row[0], row[1]) if row else Head(0, GENESIS_HASH)

    @property
    def head(self) -> Head:
        return self._head

    @property
    def public_key(self) -> str:
        return public_key_text(self._signing_key)

    def checkpoint(self, why: str) -> Checkpoint:
        """Sign the current chain head and keep the signature (at each sync and lock)."""
        cp = sign_checkpoint(self._signing_key, self.device_id, self._head.device_seq, self._head.hash,
                             self.clock.now_iso())
        with store_errors(), transaction(self.db):
            self.db.execute("INSERT INTO checkpoints (device_seq, hash, signed_at, signature, why)"
                            " VALUES (?, ?, ?, ?, ?)", [cp.device_seq, cp.hash, cp.signed_at, cp.signature, why])
        return cp

    def verify(self) -> int:
        """Check every device's chain and this device's latest signed checkpoint; return events checked.

        Raises ChainBroken naming the first bad event.
        """
        from sync.checkpoint import verify_checkpoint

        total = 0
        with store_errors():
            rows = self.db.conn.execute(
                "SELECT body, hash, device_seq, event_id, type, task_id, hlc FROM events WHERE device_id = ?"
                " ORDER BY device_seq", [self.device_id])
            total += verify_chain(_granted(_checked_bodies(rows), GrantBook(self.device_id)))
            # Other devices' events held here are the shared ones pulled from the central, so their
            # chains have gaps: check each event's hash, and the link wherever seqs are consecutive.
            rows = self.db.conn.execute(
                "SELECT body, hash, device_seq, event_id, type, task_id, hlc FROM events WHERE device_id != ?"
                " ORDER BY device_id, device_seq", [self.device_id])
            total += verify_fragments(_checked_bodies(rows))
            cp = self.db.execute("SELECT device_seq, hash, signed_at, signature FROM checkpoints "
                                 "ORDER BY id DESC LIMIT 1").fetchone()
        if cp:
            checkpoint = Checkpoint(device_id=self.device_id, device_seq=cp[0], hash=cp[1], signed_at=cp[2],
                                    signature=cp[3])
            verify_checkpoint(checkpoint, self.public_key)
            row = self.db.execute("SELECT hash FROM events WHERE device_id = ? AND device_seq = ?",
                                  [self.device_id, cp[0]]).fetchone()
            if row is None or row[0] != cp[1]:
                raise ChainBroken(f"The signed checkpoint at seq {cp[0]} no longer matches the log: "
                                  f"events were removed or replaced.", device_id=self.device_id,
                                  device_seq=cp[0])
        return total

    def compact_wal(self) -> None:
        """Copy the write-ahead log into the database and cut it to zero bytes (after large pulls).

        SQLite's automatic checkpoints reuse the WAL file but never shrink it, so one large pull
        would keep its size on disk for good.
        """
        with store_errors():
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    def rebuild_projections(self) -> tuple[str, str, int]:
        """Rebuild projections from events; returns (digest before, digest after, events applied)."""
        with store_errors():
            before = digest(self.db)
            count = rebuild(self.db)
            return before, digest(self.db), count

    def projection_digest(self) -> str:
        return digest(self.db)

    # -- reading ----------------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        with store_errors():
            return {k: v for k, v in self.db.execute("SELECT key, value FROM meta").fetchall()}

    def set_meta(self, key: str, value: str) -> None:
        with store_errors(), transaction(self.db):
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [key, value])

    def query(self, sql: str, params: list | tuple = ()) -> list[dict]:
        """Rows as dicts. For the services layer's read queries; writes go through ``record``."""
        with store_errors():
            cur = self.db.execute(sql, list(params))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def iter_event_bodies(self, where: str = "", params: list | tuple = ()) -> Iterator[str]:
        with store_errors():
            cur = self.db.conn.execute(f"SELECT body FROM events {where} ORDER BY seq", list(params))
            for (body,) in cur:
                yield body


def _checked_bodies(rows) -> Iterator[dict]:
    for body, stored_hash, device_seq, event_id, type_, task_id, hlc in rows:
        parsed = orjson.loads(body)
        if (parsed.get("hash"), parsed.get("device_seq"), parsed.get("event_id"), parsed.get("type"),
                parsed.get("task_id"), parsed.get("hlc")) != (stored_hash, device_seq, event_id, type_, task_id, hlc):
            raise ChainBroken(f"Event {event_id} (seq {device_seq}): its indexed columns disagree with its "
                              f"body; the row was edited.", device_seq=device_seq, event_id=event_id)
        yield parsed


def _granted(bodies: Iterator[dict], book: GrantBook) -> Iterator[dict]:
    """Pass bodies on, raising NotGranted at the first grant or actor the device's grants do not allow."""
    for body in bodies:
        problem = book.problem(body)
        if problem is not None:
            raise NotGranted(f"Event {body['event_id']} (seq {body['device_seq']}, {body['type']}): {problem[1]}.",
                             reason=problem[0], device_seq=body["device_seq"], event_id=body["event_id"])
        book.take(body)
        yield body


# The same list as migration 3's partial index events_trust, so SQLite uses that index.
_TRUST_WHERE = ("type IN ('device.initialized', 'user.added', 'user.role_changed', 'user.key_bound', "
                "'device.grants_sealed')")
assert {t.strip(" '") for t in _TRUST_WHERE[9:-1].split(",")} == TRUST_TYPES


def _grant_book(db: sqlite_utils.Database, device_id: str) -> GrantBook:
    book = GrantBook(device_id)
    for (body,) in db.execute(f"SELECT body FROM events WHERE device_id = ? AND {_TRUST_WHERE} "
                              f"ORDER BY device_seq", [device_id]).fetchall():
        book.take(orjson.loads(body))
    return book


def _key(failure: dict) -> str:
    return json.dumps(failure, sort_keys=True)


def _valid_failures(records: list) -> list[dict]:
    """The failure records that are well formed (a damaged or forged counter file may hold others)."""
    from sync.payloads import AccessUnlockFailed

    valid = []
    for record in records:
        try:
            valid.append(AccessUnlockFailed.model_validate(record).model_dump())
        except ValidationError:
            continue
    return valid


UNKNOWN_USER = "(unknown user)"
MAX_PENDING_FAILURES = 1000


@contextlib.contextmanager
def _no_store(data_dir: Path):
    raise NotInitialized(f"No Tideover store in {data_dir}; set one up with `tideover init`.")
    yield  # pragma: no cover


def _update_keyring(data_dir: Path, change) -> Keyring:
    """Under the keyring lock: read the file as it is now, apply ``change``, save; return it."""
    with keyring_lock(data_dir):
        keyring = _load_keyring(data_dir)
        change(keyring)
        keyring.save(data_dir / KEYRING_NAME)
    return keyring


def _load_keyring(data_dir: Path) -> Keyring:
    try:
        return Keyring.load(data_dir / KEYRING_NAME)
    except FileNotFoundError:
        raise NotInitialized(f"No Tideover store in {data_dir}; set one up with `tideover init`.") from None


def _unwrap_counted(data_dir: Path, keyring: Keyring, user_id: str, password: str,
                    clock: Clock) -> tuple[bytes, Ed25519PrivateKey | None]:
    now = clock.now().timestamp()
    uk = keyring.users.get(user_id)
    if uk is not None and uk.locked:
        raise AccountLocked(f"The account '{user_id}' is locked after too many failed unlocks; "
                            f"an admin can unlock it (`tideover user unlock {user_id}`), or use break-glass.")
    if uk is not None and uk.not_before > now:
        wait = uk.not_before - now
        raise TooSoon(f"Too many failed unlocks: wait {wait:.0f} s before trying again.", retry_after=wait)
    try:
        data_key, user_key = keyring.unwrap_user(user_id, password)
    except WrongPassword:
        limit = int(keyring.policy.get("lockout_limit", 10))
        count = 1
        if uk is not None:
            uk.failed_count += 1
            count = uk.failed_count
            uk.not_before = now + unlock_delay(count)
            # The break-glass code is slowed but never locked: locking it would let anyone who
            # types wrong codes deny emergency access.
            uk.locked = count >= limit and user_id != BREAK_GLASS_ID
        # An unknown user id is often a password typed in the wrong field: never keep it.
        shown = user_id if uk is not None else UNKNOWN_USER
        if len(keyring.pending_failures) < MAX_PENDING_FAILURES:
            keyring.pending_failures.append({"user_id": shown, "attempted_at": clock.now_iso(),
                                             "failed_count": count, "locked": bool(uk and uk.locked)})
        keyring.save(data_dir / KEYRING_NAME)
        if uk is not None and uk.locked:
            raise AccountLocked(f"Wrong password. The account '{user_id}' is now locked after {count} "
                                f"failed unlocks; an admin can unlock it.") from None
        left = f" ({limit - count} tries left before the account locks)" if uk is not None else ""
        raise WrongPassword(f"Unknown user or wrong password{left}.") from None
    if uk is not None and (uk.failed_count or uk.not_before):
        uk.failed_count, uk.not_before = 0, 0.0
        keyring.save(data_dir / KEYRING_NAME)
    return data_key, user_key


def _open_db(data_dir: Path, keyring: Keyring, data_key: bytes) -> sqlite_utils.Database:
    path = data_dir / DB_NAME
    if not path.exists() or path.stat().st_size == 0:
        raise WrongStore(f"{path} is missing or empty; restore it from backup or set up the workstation again.")
    db = open_encrypted(path, data_key)
    try:
        with store_errors():
            apply_migrations(db)
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    except Exception:
        db.conn.close()
        raise
    if meta.get("site_id") != keyring.site_id or meta.get("device_id") != keyring.device_id:
        db.conn.close()
        raise WrongStore(f"{path} belongs to site {meta.get('site_id')!r}, not to this workstation's "
                         f"site {keyring.site_id!r}.")
    return db


def _actor_for(db: sqlite_utils.Database, device_id: str, user_id: str) -> Actor:
    """The user as they act here; the role is the one their grants in the chain give, not the table's."""
    row = db.execute("SELECT display_name, role, active FROM users WHERE user_id = ?", [user_id]).fetchone()
    if row is None:
        raise WrongStore(f"The user '{user_id}' has a key but no user record; the store is inconsistent.")
    if not row[2]:
        raise AccountLocked(f"The account '{user_id}' is deactivated.")
    role = _grant_book(db, device_id).role_of(user_id)
    if role is None:
        raise NotPermitted(f"'{user_id}' holds no role granted on this workstation; an admin adds them again.")
    return Actor(user_id=user_id, display_name=row[0], role=role)
