"""Users and their roles on a workstation: adding users, role grants signed in the chain, unlocking accounts.

A role is what the device's own chain of grants gives (``sync/grants.py``), never what the
``users`` table says: the table is a projection, the signed grants are the authority.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
import sqlite_utils

from sync.checkpoint import new_signing_key, public_key_text
from sync.events import Event, new_id
from sync.grants import DEVICE_SIGNER, TRUST_TYPES, GrantBook, grant_text, sign

from .bodies import decode
from .database import store_errors
from .errors import NotPermitted, StoreError
from .keyring import BREAK_GLASS_ID, Keyring, update_keyring
from .passwords import check_new_password

if TYPE_CHECKING:
    from .store import Store

# The workstation itself, as the actor of events no person made (setup, sealed grants, failed unlocks).
SYSTEM_ACTOR = {"user_id": "system", "display_name": "Tideover workstation", "role": "admin"}

# The same list as migration 3's partial index events_trust, so SQLite uses that index.
TRUST_WHERE = ("type IN ('device.initialized', 'user.added', 'user.role_changed', 'user.key_bound', "
               "'device.grants_sealed')")
assert {t.strip(" '") for t in TRUST_WHERE[9:-1].split(",")} == TRUST_TYPES


def require_role(store: Store, *roles: str) -> None:
    """Refuse (NotPermitted) unless the signed-in user holds one of ``roles``."""
    if store.actor.role not in roles:
        raise NotPermitted(f"Only a {' or '.join(r.replace('_', ' ') for r in roles)} may do this; "
                           f"you are signed in as {store.actor.role.replace('_', ' ')}.")


def add_user(store: Store, user_id: str, display_name: str, role: str, password: str) -> None:
    """Add a local user (admin only): a key wrapped with their password, and a grant signed by the admin."""
    require_role(store, "admin")
    if store.db.execute("SELECT 1 FROM users WHERE user_id = ?", [user_id]).fetchone() or \
            user_id in store.keyring.users:
        raise StoreError(f"There is already a user '{user_id}'.")
    check_new_password(password, min_length=int(store.settings["min_password_length"]),
                       context=(user_id, display_name, store.site_id, store.unit_id))
    _require_signing_key(store)
    data_key, key = store._data_key, new_signing_key()
    # The key first: a user recorded without a key could never sign in nor be added again.
    store.keyring = update_keyring(store.data_dir, lambda kr: kr.add_user(user_id, password, data_key,
                                                                          signing_key=key))
    grant(store, "user.added", user_id, display_name, role, public_key_text(key))


def change_role(store: Store, user_id: str, role: str) -> None:
    """Give a user another role (admin only), as a grant signed with the admin's own key."""
    require_role(store, "admin")
    _require_signing_key(store)
    held = grant_book(store).users.get(user_id)
    row = store.db.execute("SELECT display_name FROM users WHERE user_id = ?", [user_id]).fetchone()
    if held is None or row is None:
        raise StoreError(f"There is no user '{user_id}'.")
    if held[1] is None:
        raise StoreError(f"'{user_id}' has no signing key yet: they sign in once, then their role can change.")
    if held[0] == role:
        raise StoreError(f"'{user_id}' is a {role.replace('_', ' ')} already.")
    grant(store, "user.role_changed", user_id, row[0], role, held[1])


def unlock_account(store: Store, user_id: str) -> None:
    """Clear a user's failed-unlock lock (admin only)."""
    require_role(store, "admin")
    if user_id not in store.keyring.users or user_id == BREAK_GLASS_ID:
        raise StoreError(f"There is no user '{user_id}'.")

    def clear(kr: Keyring) -> None:
        uk = kr.users[user_id]
        uk.failed_count, uk.not_before, uk.locked = 0, 0.0, False

    store.keyring = update_keyring(store.data_dir, clear)
    store.record("access.account_unlocked", {"what": "account", "target_id": user_id})


def _require_signing_key(store: Store) -> None:
    if store._user_key is None:
        raise NotPermitted("Your account has no signing key on this workstation, so it cannot grant roles; "
                           "sign out and sign in again with your password.")


def grant(store: Store, type_: str, user_id: str, display_name: str, role: str, public_key: str, *,
          by_device: bool = False) -> Event:
    """Record a role grant signed by the signed-in admin's key (or, for site recovery, the device's)."""
    event_id = new_id()
    payload = {"user_id": user_id, "display_name": display_name, "role": role, "public_key": public_key,
               "granted_by": DEVICE_SIGNER if by_device else store.actor.user_id}
    key = store._signing_key if by_device else store._user_key
    if key is None:
        _require_signing_key(store)
    payload["signature"] = sign(key, grant_text(store.device_id, event_id, payload))
    store._vouching = by_device
    try:
        return store.record(type_, payload, actor=SYSTEM_ACTOR if by_device else None, event_id=event_id)
    finally:
        store._vouching = False


def grant_book(store: Store) -> GrantBook:
    """Who holds which role on this workstation, from its own chain (see sync/grants.py)."""
    with store_errors():
        return read_grant_book(store.db, store.device_id)


def read_grant_book(db: sqlite_utils.Database, device_id: str) -> GrantBook:
    book = GrantBook(device_id)
    for body, codec, event_id, seq in db.execute(f"SELECT body, body_codec, event_id, device_seq FROM events WHERE"
                                                 f" device_id = ? AND {TRUST_WHERE} ORDER BY device_seq",
                                                 [device_id]).fetchall():
        book.take(orjson.loads(decode(body, codec, event_id=event_id, device_seq=seq)))
    return book


def check_grant(store: Store, book: GrantBook, body: dict) -> None:
    """Refuse a grant that is unsigned, wrongly signed or signed by someone who is not an admin."""
    problem = book.problem(body)
    if problem is None and body["payload"].get("granted_by") == DEVICE_SIGNER and not store._vouching:
        problem = ("grant_invalid", "only site recovery records a grant vouched by the device key")
    if problem is not None:
        raise NotPermitted(f"The {body['type']} event was refused: {problem[1]}.")
    book.take(body)


def upgrade_grants(store: Store, password: str) -> None:
    """A store made before user keys: seal its unsigned grants, and give this user a signing key."""
    book = grant_book(store)
    if not book.legacy or store.actor.user_id not in book.users:
        return
    if not book.sealed:
        store.record("device.grants_sealed", {"users": sorted(book.users)}, actor=SYSTEM_ACTOR)
    if store._user_key is None and book.users[store.actor.user_id][1] is None:
        key, user_id = new_signing_key(), store.actor.user_id
        store.keyring = update_keyring(store.data_dir, lambda kr: kr.add_signing_key(user_id, password, key))
        store._user_key = key
        store.record("user.key_bound", {"user_id": user_id, "public_key": public_key_text(key)})
