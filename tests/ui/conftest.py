"""pytest-qt fixtures: a real demo store in tmp_path and the real window, driven like a person would."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from store_rows import rows

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from store_rows import event_bodies  # noqa: E402

from app.services.demo import DEMO_PASSWORD, seed_demo  # noqa: E402
from app.store import settings as site_settings  # noqa: E402
from app.store.store import Store  # noqa: E402
from sync.clock import Clock  # noqa: E402

pytestmark = pytest.mark.ui
WAIT_MS = 15_000
SYNC_WAIT_MS = 40_000  # a sync on a loaded 2-core machine; no test asserts how long it took
HOURS_AGO = 5


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """One seeded demo store, made with a clock five hours back so routine work is overdue now."""
    folder = tmp_path_factory.mktemp("template") / "store"
    start = datetime.now(UTC) - timedelta(hours=HOURS_AGO)
    store, _made = seed_demo(folder, clock=Clock(lambda: start))
    store.close("exit")
    return folder


@pytest.fixture
def demo_dir(tmp_path, demo_template) -> Path:
    target = tmp_path / "store"
    shutil.copytree(demo_template, target)
    return target


def set_setting(data_dir: Path, key: str, value) -> None:
    """Change a site setting in the store, as `tideover init --setting` would have set it."""
    store = Store.open(data_dir, "admin", DEMO_PASSWORD)
    try:
        site_settings.save(store, {**store.settings, key: value})
    finally:
        store.close("exit")


def read_store(data_dir: Path, sql: str, params=()) -> list[dict]:
    """What the database holds, read as the super-user after the window is done."""
    store = Store.open(data_dir, "sam", DEMO_PASSWORD)
    try:
        return rows(store, sql, params)
    finally:
        store.close("exit")


def read_bodies(data_dir: Path, where: str = "", params=()) -> list[dict]:
    """The event bodies the store holds (``where``: SQL after FROM events), read as the super-user."""
    store = Store.open(data_dir, "sam", DEMO_PASSWORD)
    try:
        return event_bodies(store, where, params)
    finally:
        store.close("exit")


@pytest.fixture
def central(tmp_path):
    """The real central, embedded as in the demo, on loopback."""
    from app.services.demo_central import EmbeddedCentral

    central = EmbeddedCentral(tmp_path / "central").start().wait_ready()
    yield central
    central.stop()


@pytest.fixture
def enrolled_dir(demo_dir, central):
    """The demo store enrolled with the central (its admin did it, as IT would)."""
    from app.services import enrollment

    store = Store.open(demo_dir, "admin", DEMO_PASSWORD)
    try:
        enrollment.enroll(store, central.url, central.enroll_token(store.site_id, store.unit_id))
    finally:
        store.close("exit")
    return demo_dir


@pytest.fixture
def make_window(qtbot, qapp):
    from app.ui.main_window import MainWindow
    from app.ui.theme import apply_theme

    apply_theme(qapp)
    qapp.setKeyboardInputInterval(600)  # letters of one list search, even on a loaded CI machine
    made = []

    def make(data_dir: Path, **kwargs) -> MainWindow:
        window = MainWindow(data_dir, **kwargs)
        qtbot.addWidget(window)
        window.resize(1366, 768)
        window.show()
        made.append(window)
        return window

    yield make
    for window in made:
        window.session.close_now()
        qtbot.waitUntil(lambda w=window: w.session.worker.pending == 0, timeout=WAIT_MS)


@pytest.fixture
def window(make_window, demo_dir):
    return make_window(demo_dir)


def sign_in(qtbot, window, user: str = "nina", password: str = DEMO_PASSWORD) -> None:
    """Type the user and password and press Enter; wait for the board with its tasks."""
    screen = window.unlock
    screen.user.clear()
    qtbot.keyClicks(screen.user, user)
    qtbot.keyClick(screen.user, Qt.Key.Key_Return)
    qtbot.keyClicks(screen.password, password)
    qtbot.keyClick(screen.password, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.board and window.board.model.total > 0,
                    timeout=WAIT_MS)


def wait_idle(qtbot, window) -> None:
    qtbot.waitUntil(lambda: window.session.worker.pending == 0, timeout=WAIT_MS)
