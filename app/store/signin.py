"""Setting up and unlocking a workstation store: sign-in by password, break-glass and site recovery.

Each way in unwraps the data key from the keyring (failures are counted, slowed and recorded, see
keyring.py), opens the encrypted database, finds the user's role in the chain's signed grants and
records the sign-in. ``Store.create``, ``Store.open``, ``Store.open_break_glass`` and
``Store.recover`` call these.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import sqlite_utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from sync.checkpoint import new_signing_key, private_key_bytes, public_key_text
from sync.clock import Clock
from sync.events import Actor, describe_validation, new_id
from sync.fields import ID_PATTERN
from sync.grants import first_admin_text, sign

from .bodies import decode
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
from .keyring import BREAK_GLASS_ID, Keyring, keyring_lock, load_keyring, update_keyring
from .migrations import apply_migrations
from .passwords import check_new_password
from .settings import password_policy, with_defaults
from .users import SYSTEM_ACTOR, grant, read_grant_book, upgrade_grants

if TYPE_CHECKING:
    from .store import Store

UNKNOWN_USER = "(unknown user)"
MAX_PENDING_FAILURES = 1000


def unlock_delay(failed_count: int) -> float:
    """Seconds before the next try after ``failed_count`` failures: none for two, then doubling to 5 min."""
    return 0.0 if failed_count < 3 else float(min(2 ** (failed_count - 3), 300))


def create(cls: type[Store], data_dir: Path, *, site_id: str, unit_id: str, admin_id: str, admin_name: str,
           password: str, recovery_public_pem: bytes | None = None, settings: dict | None = None,
           clock: Clock | None = None) -> tuple[Store, str]:
    """Set up a new workstation store; returns it and the one-time break-glass code."""
    clock = clock or Clock()
    data_dir = Path(data_dir)
    settings = with_defaults(settings)
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
                      policy=password_policy(settings))
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
        grant(store, "user.added", admin_id, admin_name, "admin", admin_public)
        # The keyring last: until it exists there is no store, and a failed init can run again.
        keyring.save(data_dir / KEYRING_NAME)
    except BaseException:
        db.conn.close()
        for suffix in ("", "-wal", "-shm"):
            (data_dir / (DB_NAME + suffix)).unlink(missing_ok=True)
        raise
    store.record("access.sign_in", {"method": "password"})
    return store, break_glass


def open_for_user(cls: type[Store], data_dir: Path, user_id: str, password: str,
                  clock: Clock | None = None) -> Store:
    """Unlock for ``user_id``; failures are counted, slowed and recorded (see keyring.py)."""
    clock = clock or Clock()
    data_dir = Path(data_dir)
    if user_id == BREAK_GLASS_ID:
        raise NotPermitted("The break-glass code is used through break-glass sign-in, with your name and "
                           "a reason.")
    with keyring_lock(data_dir) if data_dir.exists() else _no_store(data_dir):
        keyring = load_keyring(data_dir)
        data_key, user_key = _unwrap_counted(data_dir, keyring, user_id, password, clock)
    db = _open_db(data_dir, keyring, data_key)
    try:
        actor = _actor_for(db, keyring.device_id, user_id)
    except BaseException:
        db.conn.close()
        raise
    store = cls(data_dir, db, keyring, actor, clock, data_key, user_key=user_key)
    _record_pending_failures(store)
    upgrade_grants(store, password)
    store.record("access.sign_in", {"method": "password"})
    return store


def open_break_glass(cls: type[Store], data_dir: Path, code: str, reason: str, user_name: str,
                     clock: Clock | None = None) -> Store:
    """Emergency unlock with the sealed break-glass code; the sign-in is flagged for review."""
    if len((reason or "").strip()) < 10:
        raise NotPermitted("Break-glass access needs a reason of at least 10 characters.")
    if not (user_name or "").strip():
        raise NotPermitted("Break-glass access needs the name of the person using it.")
    clock = clock or Clock()
    data_dir = Path(data_dir)
    with keyring_lock(data_dir) if data_dir.exists() else _no_store(data_dir):
        keyring = load_keyring(data_dir)
        data_key, _no_key = _unwrap_counted(data_dir, keyring, BREAK_GLASS_ID, code, clock)
    db = _open_db(data_dir, keyring, data_key)
    actor = Actor(user_id=BREAK_GLASS_ID, display_name=f"Break-glass: {user_name.strip()}"[:120],
                  role="nurse")
    store = cls(Path(data_dir), db, keyring, actor, clock, data_key)
    _record_pending_failures(store)
    store.record("access.sign_in", {"method": "break_glass", "reason": reason.strip()})
    return store


def recover(cls: type[Store], data_dir: Path, recovery_private_pem: bytes, passphrase: bytes | None,
            new_admin_id: str, new_admin_name: str, new_password: str, clock: Clock | None = None) -> Store:
    """IT recovery: open with the site recovery key and enroll a new admin user."""
    clock = clock or Clock()
    keyring = load_keyring(Path(data_dir))
    data_key = keyring.unwrap_with_recovery(recovery_private_pem, passphrase)
    check_new_password(new_password, min_length=password_policy(keyring.policy)["min_password_length"],
                       context=(new_admin_id, new_admin_name))
    if new_admin_id in keyring.users:
        raise StoreError(f"There is already a user '{new_admin_id}'; choose a new admin id.")
    db = _open_db(Path(data_dir), keyring, data_key)
    admin_key = new_signing_key()
    keyring = update_keyring(Path(data_dir), lambda kr: kr.add_user(new_admin_id, new_password, data_key,
                                                                     signing_key=admin_key))
    store = cls(Path(data_dir), db, keyring, Actor(**SYSTEM_ACTOR), clock, data_key)
    # No admin is left to sign the grant: the device key vouches for it (see docs: Trust model).
    grant(store, "user.added", new_admin_id, new_admin_name, "admin", public_key_text(admin_key), by_device=True)
    store.actor = Actor(user_id=new_admin_id, display_name=new_admin_name, role="admin")
    store._user_key = admin_key
    store.record("access.sign_in", {"method": "password", "reason": "site recovery key"})
    return store


def _record_pending_failures(store: Store) -> None:
    """Write the failed unlocks the keyring counted while the database was closed into the chain."""
    if not store.keyring.pending_failures:
        return
    with keyring_lock(store.data_dir):
        keyring = load_keyring(store.data_dir)
        if keyring.pending_failures:
            # A keyring or counter file restored from an older copy may list failures the
            # chain already holds: each is recorded once.
            held = _failures_held(store)
            fresh = [f for f in _valid_failures(keyring.pending_failures) if _key(f) not in held]
            if fresh:
                store.record_many([("access.unlock_failed", f, SYSTEM_ACTOR, {}) for f in fresh])
            keyring.pending_failures = []
            keyring.save(store.data_dir / KEYRING_NAME)
        store.keyring = keyring


def _failures_held(store: Store) -> set[str]:
    with store_errors():
        rows = store.db.execute("SELECT body, body_codec, event_id, device_seq FROM events"
                                " WHERE type = 'access.unlock_failed'").fetchall()
    return {_key(orjson.loads(decode(body, codec, event_id=event_id, device_seq=seq))["payload"])
            for body, codec, event_id, seq in rows}


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


@contextlib.contextmanager
def _no_store(data_dir: Path):
    raise NotInitialized(f"No Tideover store in {data_dir}; set one up with `tideover init`.")
    yield  # pragma: no cover


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
        limit = password_policy(keyring.policy)["lockout_limit"]
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
    role = read_grant_book(db, device_id).role_of(user_id)
    if role is None:
        raise NotPermitted(f"'{user_id}' holds no role granted on this workstation; an admin adds them again.")
    return Actor(user_id=user_id, display_name=row[0], role=role)
