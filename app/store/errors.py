"""Errors of the workstation store. All are ``sync.errors.TideoverError`` with a ``kind``."""

from __future__ import annotations

from sync.errors import TideoverError


class StoreError(TideoverError):
    kind = "store"


class NotInitialized(StoreError):
    kind = "not_initialized"


class AlreadyInitialized(StoreError):
    kind = "already_initialized"


class WrongPassword(StoreError):
    kind = "wrong_password"


class AccountLocked(StoreError):
    kind = "account_locked"


class TooSoon(StoreError):
    """Unlock attempts are being slowed after failures; try again after ``retry_after`` seconds."""

    kind = "too_soon"

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


class WeakPassword(StoreError):
    kind = "weak_password"


class NotPermitted(StoreError):
    kind = "not_permitted"


class WrongStore(StoreError):
    """The database file is not this workstation's: another site's, truncated or damaged."""

    kind = "wrong_store"


class DiskFull(StoreError):
    kind = "disk_full"


class NotFound(StoreError):
    kind = "not_found"
