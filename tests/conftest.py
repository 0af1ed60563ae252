"""Fixtures shared by every test folder: real SQLCipher stores in tmp_path, synthetic patients only."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def fake_clock():
    from sync.clock import FakeClock

    return FakeClock(datetime(2026, 11, 25, 3, 0, tzinfo=UTC))


@pytest.fixture
def demo_store(tmp_path):
    """A seeded demo workstation (users, census, one task per workflow), signed in as the admin."""
    from app.services.demo import seed_demo

    store, made = seed_demo(tmp_path / "store")
    store.made = made
    yield store
    if store.db is not None:
        store.close()


@pytest.fixture
def nurse_store(demo_store):
    """The demo workstation reopened as the nurse 'nina'."""
    from app.services.demo import DEMO_PASSWORD
    from app.store.store import Store

    data_dir = demo_store.data_dir
    demo_store.close()
    store = Store.open(data_dir, "nina", DEMO_PASSWORD)
    yield store
    if store.db is not None:
        store.close()
