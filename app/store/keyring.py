"""The keyring file: the data key, wrapped once per local user and once to the site recovery key.

The keyring sits beside the encrypted database in plain JSON because it must be readable before
anything is unlocked. It holds no patient data: user ids, KDF salts, wrapped keys and the
failed-unlock counters that must work while the database is still closed.

- Per user: Argon2id (memory-hard) turns the password into a key-encryption key, which opens an
  AES-256-GCM wrap of the data key. The wrap's associated data binds it to the site and user.
  The same key-encryption key wraps the user's own Ed25519 signing key (role grants, see
  sync/grants.py), under other associated data; its public half is kept beside it.
- Recovery: the data key sealed to the site's X25519 recovery public key (ephemeral X25519,
  HKDF-SHA256, AES-256-GCM), so IT can recover a workstation whose users are all gone.
- Failed unlocks are counted per user, slowed by a growing delay, and lock the account at the
  site's limit. They are recorded here, then written into the event chain at the next unlock.
- The counters and pending failure records are kept twice: in the keyring and in a second file,
  ``unlock-counters.json``, written together. Loading takes the higher count, the later delay, the
  lock of either and the records of both, so restoring (or deleting) either file alone never
  undoes a failure. Restoring both to older copies does: see "Failed unlocks" in the README.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .database import KEYRING_NAME
from .errors import NotInitialized, StoreError, WrongPassword, WrongStore
from .settings import password_policy

KEYRING_VERSION = 1
COUNTERS_NAME = "unlock-counters.json"
COUNTER_FIELDS = ("failed_count", "not_before", "locked")
# Argon2id at 64 MiB, 3 passes: ~0.2 s here, memory-hard against GPU guessing (RFC 9106 "second
# recommended option" uses 64 MiB; we take 3 passes to stay under the 1 s unlock budget).
KDF_PARAMS = {"alg": "argon2id", "time_cost": 3, "memory_cost": 65536, "parallelism": 2}
BREAK_GLASS_ID = "break-glass"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def derive_kek(password: str, salt: bytes, params: dict) -> bytes:
    return hash_secret_raw(password.encode("utf-8"), salt, time_cost=params["time_cost"],
                           memory_cost=params["memory_cost"], parallelism=params["parallelism"],
                           hash_len=32, type=Type.ID)


@dataclass
class UserKey:
    user_id: str
    salt: str
    kdf: dict
    nonce: str
    wrapped: str
    failed_count: int = 0
    not_before: float = 0.0
    locked: bool = False
    # The user's Ed25519 signing key, wrapped like the data key (empty in keyrings made before).
    sign_nonce: str = ""
    sign_wrapped: str = ""
    sign_public: str = ""


@dataclass
class Keyring:
    """The parsed keyring file. Mutate through its methods, then ``save``."""

    site_id: str
    unit_id: str
    device_id: str
    users: dict[str, UserKey] = field(default_factory=dict)
    recovery: dict | None = None
    policy: dict = field(default_factory=lambda: password_policy(None))  # a copy: see app.store.settings
    pending_failures: list[dict] = field(default_factory=list)

    # -- wrapping the data key -------------------------------------------------------------
    def _aad(self, user_id: str) -> bytes:
        return f"tideover-keyring|{self.site_id}|{self.device_id}|{user_id}".encode()

    def add_user(self, user_id: str, password: str, data_key: bytes, kdf: dict | None = None,
                 signing_key: Ed25519PrivateKey | None = None) -> None:
        kdf = dict(kdf or KDF_PARAMS)
        salt, nonce = os.urandom(16), os.urandom(12)
        kek = derive_kek(password, salt, kdf)
        wrapped = AESGCM(kek).encrypt(nonce, data_key, self._aad(user_id))
        self.users[user_id] = UserKey(user_id, _b64(salt), kdf, _b64(nonce), _b64(wrapped))
        if signing_key is not None:
            self._wrap_signing_key(self.users[user_id], kek, signing_key)

    def _wrap_signing_key(self, uk: UserKey, kek: bytes, signing_key: Ed25519PrivateKey) -> None:
        raw = signing_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                        serialization.NoEncryption())
        nonce = os.urandom(12)
        uk.sign_nonce = _b64(nonce)
        uk.sign_wrapped = _b64(AESGCM(kek).encrypt(nonce, raw, self._aad(uk.user_id) + b"|signing"))
        uk.sign_public = _b64(signing_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                                    serialization.PublicFormat.Raw))

    def unwrap(self, user_id: str, password: str) -> bytes:
        """The data key, or WrongPassword. Counting and throttling is the caller's job."""
        return self.unwrap_user(user_id, password)[0]

    def unwrap_user(self, user_id: str, password: str) -> tuple[bytes, Ed25519PrivateKey | None]:
        """The data key and the user's signing key (None in a keyring made before user keys)."""
        uk = self.users.get(user_id)
        if uk is None:
            # Spend the same work as for a real user, so timing does not tell which accounts exist.
            derive_kek(password, b"tideover-unknown", KDF_PARAMS)
            raise WrongPassword("Unknown user or wrong password.")
        kek = derive_kek(password, _unb64(uk.salt), uk.kdf)
        try:
            data_key = AESGCM(kek).decrypt(_unb64(uk.nonce), _unb64(uk.wrapped), self._aad(user_id))
        except InvalidTag:
            raise WrongPassword("Unknown user or wrong password.") from None
        if not uk.sign_wrapped:
            return data_key, None
        try:
            raw = AESGCM(kek).decrypt(_unb64(uk.sign_nonce), _unb64(uk.sign_wrapped),
                                      self._aad(user_id) + b"|signing")
        except InvalidTag:
            raise WrongStore(f"The signing key of '{user_id}' in the keyring is damaged; restore keyring.json "
                             f"from backup.") from None
        return data_key, Ed25519PrivateKey.from_private_bytes(raw)

    def add_signing_key(self, user_id: str, password: str, signing_key: Ed25519PrivateKey) -> None:
        """Wrap a signing key for a user of a keyring made before user keys (password checked)."""
        uk = self.users[user_id]
        kek = derive_kek(password, _unb64(uk.salt), uk.kdf)
        try:
            AESGCM(kek).decrypt(_unb64(uk.nonce), _unb64(uk.wrapped), self._aad(user_id))
        except InvalidTag:
            raise WrongPassword("Unknown user or wrong password.") from None
        self._wrap_signing_key(uk, kek, signing_key)

    def seal_to_recovery(self, data_key: bytes, recovery_public_pem: bytes) -> None:
        try:
            pub = serialization.load_pem_public_key(recovery_public_pem)
        except ValueError as err:
            raise StoreError(f"The recovery public key is not a PEM public key: {err}") from None
        if not isinstance(pub, X25519PublicKey):
            raise StoreError("The recovery public key must be an X25519 key "
                             "(make one with `tideover recovery keygen`).")
        eph = X25519PrivateKey.generate()
        kek = _recovery_kek(eph.exchange(pub), self._aad("recovery"))
        nonce = os.urandom(12)
        eph_pub = eph.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.recovery = {"alg": "x25519-hkdf-sha256-aes256gcm", "ephemeral": _b64(eph_pub),
                         "nonce": _b64(nonce),
                         "wrapped": _b64(AESGCM(kek).encrypt(nonce, data_key, self._aad("recovery")))}

    def unwrap_with_recovery(self, recovery_private_pem: bytes, passphrase: bytes | None) -> bytes:
        if not self.recovery:
            raise StoreError("This workstation was set up without a site recovery key.")
        try:
            priv = serialization.load_pem_private_key(recovery_private_pem, passphrase)
        except (ValueError, TypeError) as err:
            raise WrongPassword(f"Cannot read the recovery private key: {err}") from None
        if not isinstance(priv, X25519PrivateKey):
            raise StoreError("The recovery private key must be an X25519 key.")
        eph = X25519PublicKey.from_public_bytes(_unb64(self.recovery["ephemeral"]))
        kek = _recovery_kek(priv.exchange(eph), self._aad("recovery"))
        try:
            return AESGCM(kek).decrypt(_unb64(self.recovery["nonce"]), _unb64(self.recovery["wrapped"]),
                                       self._aad("recovery"))
        except InvalidTag:
            raise WrongPassword("That recovery key does not belong to this workstation's site.") from None

    # -- file ------------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {"version": KEYRING_VERSION, "site_id": self.site_id, "unit_id": self.unit_id,
                "device_id": self.device_id, "policy": self.policy, "recovery": self.recovery,
                "pending_failures": self.pending_failures,
                "users": {u: vars(k) for u, k in sorted(self.users.items())}}

    def counters_json(self) -> dict:
        return {"version": KEYRING_VERSION, "device_id": self.device_id,
                "users": {u: {f: getattr(k, f) for f in COUNTER_FIELDS} for u, k in sorted(self.users.items())},
                "pending_failures": self.pending_failures}

    def save(self, path: Path) -> None:
        """Write the counter file, then the keyring, each atomically, so a crash leaves each old or new whole.

        Callers that read, change and save hold ``keyring_lock`` so two processes never interleave.
        """
        _write_atomically(path.parent / COUNTERS_NAME, json.dumps(self.counters_json(), indent=1).encode())
        _write_atomically(path, json.dumps(self.to_json(), indent=1).encode())
        _fsync_dir(path.parent)

    def merge_counters(self, other: dict) -> None:
        """Take the stricter of this keyring's counters and ``other``'s (a counter file's), and both's records."""
        if not isinstance(other, dict) or other.get("device_id") != self.device_id:
            return
        for user_id, theirs in (other.get("users") or {}).items():
            uk = self.users.get(user_id)
            if uk is None or not isinstance(theirs, dict):
                continue
            uk.failed_count = max(uk.failed_count, int(theirs.get("failed_count") or 0))
            uk.not_before = max(uk.not_before, float(theirs.get("not_before") or 0.0))
            uk.locked = uk.locked or theirs.get("locked") is True
        theirs = [r for r in other.get("pending_failures") or [] if isinstance(r, dict)]
        # In the order they happened: the longer list (the file not restored) first, then what only the other holds.
        first, second = (theirs, self.pending_failures) if len(theirs) > len(self.pending_failures) else \
            (self.pending_failures, theirs)
        merged, known = [], set()
        for record in [*first, *second]:
            if json.dumps(record, sort_keys=True) not in known:
                merged.append(record)
                known.add(json.dumps(record, sort_keys=True))
        self.pending_failures = merged

    @classmethod
    def load(cls, path: Path) -> Keyring:
        """The keyring at ``path`` with the counter file beside it merged in (see ``merge_counters``)."""
        try:
            raw = json.loads(path.read_text())
            users = {u: UserKey(**k) for u, k in raw["users"].items()}
            keyring = cls(raw["site_id"], raw["unit_id"], raw["device_id"], users, raw.get("recovery"),
                          raw.get("policy") or {}, raw.get("pending_failures") or [])
        except FileNotFoundError:
            raise
        except (ValueError, KeyError, TypeError) as err:
            raise WrongStore(f"The keyring file {path} is damaged ({err.__class__.__name__}); "
                             f"restore it from backup or recover with the site recovery key.") from None
        try:
            keyring.merge_counters(json.loads((path.parent / COUNTERS_NAME).read_text()))
        except FileNotFoundError:
            pass  # a store made before the counter file, or the file was removed: the keyring's counts hold
        except (ValueError, TypeError, AttributeError):
            pass  # damaged: the keyring's counts hold, and the next save writes the file whole again
        return keyring


@contextlib.contextmanager
def keyring_lock(data_dir: Path):
    """Hold an exclusive lock on the workstation's keyring across a read, change and save."""
    fd = os.open(Path(data_dir) / ".keyring.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def load_keyring(data_dir: Path) -> Keyring:
    """The workstation's keyring; NotInitialized when there is no store in ``data_dir``."""
    try:
        return Keyring.load(data_dir / KEYRING_NAME)
    except FileNotFoundError:
        raise NotInitialized(f"No Tideover store in {data_dir}; set one up with `tideover init`.") from None


def update_keyring(data_dir: Path, change) -> Keyring:
    """Under the keyring lock: read the file as it is now, apply ``change``, save; return it."""
    with keyring_lock(data_dir):
        keyring = load_keyring(data_dir)
        change(keyring)
        keyring.save(data_dir / KEYRING_NAME)
    return keyring


def _write_atomically(path: Path, data: bytes) -> None:
    """Own temp file (0600) in the same folder, fsync, rename over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _recovery_kek(shared: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(shared)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_recovery_keypair(passphrase: bytes | None) -> tuple[bytes, bytes]:
    """A new site recovery key pair as (private PEM, public PEM); the private one for IT's safe."""
    priv = X25519PrivateKey.generate()
    enc = (serialization.BestAvailableEncryption(passphrase) if passphrase
           else serialization.NoEncryption())
    priv_pem = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    pub_pem = priv.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    return priv_pem, pub_pem
