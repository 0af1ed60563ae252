"""The encrypted workstation store: one SQLCipher file, its keyring, the event log and projections.

``Store`` is the unlocked session: who is signed in, the open database, the device's keys and the
chain head. The work lives in one module per job, each taking the store:

- ``signin``: setting up and unlocking (``Store.create``, ``Store.open``, break-glass, recovery);
- ``users``: adding users, role grants signed in the chain, unlocking accounts, ``require_role``;
- ``eventlog``: ``record_many`` (chain, append, project in one transaction), pulled events, body readers;
- ``syncstate``: the central's answers, the watermark, what is pending; ``outbox``: batches to send;
- ``integrity``: signed checkpoints, the chain check, projections rebuilt from the log;
- ``read_models``: named reads of the census, tasks and users for the services (no SQL elsewhere).
"""

from __future__ import annotations

import json
from pathlib import Path

import sqlite_utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.checkpoint import Checkpoint, load_private_key, public_key_text
from sync.clock import Clock
from sync.events import Actor, Event

from . import eventlog, integrity, signin, users
from .database import store_errors, transaction
from .eventlog import Head
from .keyring import Keyring
from .projections import Projector
from .settings import DEFAULT_SETTINGS, with_defaults
from .signin import unlock_delay
from .users import SYSTEM_ACTOR, TRUST_WHERE

__all__ = ["DEFAULT_SETTINGS", "SYSTEM_ACTOR", "TRUST_WHERE", "Head", "Store", "unlock_delay"]


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
        self.settings = with_defaults(json.loads(meta.get("settings", "{}")))
        self._signing_key = load_private_key(bytes.fromhex(meta["signing_key"]))
        self._projector = Projector(db)
        self._head = eventlog.read_head(db, self.device_id)
        # A new process starts its clock from the log, so a wall clock that stepped back can
        # never order a new event before ones already recorded.
        for seen in (eventlog.head_hlc(db, self.device_id), meta.get("max_remote_hlc")):
            if seen:
                self.clock.observe(seen)

    # -- setting up and unlocking (signin.py) ------------------------------------------------
    @classmethod
    def create(cls, data_dir: Path, **kwargs) -> tuple[Store, str]:
        """Set up a new workstation store; returns it and the one-time break-glass code.

        Keyword arguments as ``signin.create``: site_id, unit_id, admin_id, admin_name, password,
        recovery_public_pem, settings, clock."""
        return signin.create(cls, data_dir, **kwargs)

    @classmethod
    def open(cls, data_dir: Path, user_id: str, password: str, clock: Clock | None = None) -> Store:
        """Unlock for ``user_id``; failures are counted, slowed and recorded (see keyring.py)."""
        return signin.open_for_user(cls, data_dir, user_id, password, clock)

    @classmethod
    def open_break_glass(cls, data_dir: Path, code: str, reason: str, user_name: str,
                         clock: Clock | None = None) -> Store:
        """Emergency unlock with the sealed break-glass code; the sign-in is flagged for review."""
        return signin.open_break_glass(cls, data_dir, code, reason, user_name, clock)

    @classmethod
    def recover(cls, data_dir: Path, recovery_private_pem: bytes, passphrase: bytes | None,
                new_admin_id: str, new_admin_name: str, new_password: str, clock: Clock | None = None) -> Store:
        """IT recovery: open with the site recovery key and enroll a new admin user."""
        return signin.recover(cls, data_dir, recovery_private_pem, passphrase, new_admin_id, new_admin_name,
                              new_password, clock)

    def close(self, why: str = "exit") -> None:
        """Record the lock, sign the chain head and close the database (once)."""
        if self.db is None:
            return
        try:
            self.record("access.locked", {"why": why})
            self.checkpoint("lock")
        finally:
            self.db.conn.close()
            self.db = None

    # -- the session's own facts ------------------------------------------------------------
    @property
    def head(self) -> Head:
        return self._head

    @property
    def public_key(self) -> str:
        return public_key_text(self._signing_key)

    def meta(self) -> dict[str, str]:
        with store_errors():
            return {k: v for k, v in self.db.execute("SELECT key, value FROM meta").fetchall()}

    def set_meta(self, key: str, value: str) -> None:
        with store_errors(), transaction(self.db):
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [key, value])

    # -- the verbs used everywhere: each calls its module ------------------------------------
    def record(self, type: str, payload: dict, *, actor: dict | Actor | None = None, **fields) -> Event:
        """Chain, append and project one event in one transaction; return it once it is durable."""
        return eventlog.record_many(self, [(type, payload, actor, fields)])[0]

    def record_many(self, items: list[tuple[str, dict, dict | Actor | None, dict]]) -> list[Event]:
        """Record several events in one transaction: all of them, or (on any error) none."""
        return eventlog.record_many(self, items)

    def require_role(self, *roles: str) -> None:
        users.require_role(self, *roles)

    def checkpoint(self, why: str) -> Checkpoint:
        """Sign the current chain head and keep the signature (at each sync and lock)."""
        return integrity.checkpoint(self, why)

    def verify(self) -> int:
        """Check every chain and the latest signed checkpoint; return events checked (see integrity.py)."""
        return integrity.verify(self)
