"""Canary for the Qt binding: emitting the signals the app relies on must not leak references.

PySide6 6.12.0 drops a reference to True or False on every signal emit. On Python 3.10 and 3.11,
where True and False are ordinary refcounted objects, the count reaches zero after enough emits
and the interpreter aborts ("Fatal Python error: bool_dealloc"): the window died mid-prediction on
a 109,000-chip folder. pyproject.toml keeps that binding away from those Pythons; this test fails
on any binding with the same leak, so a future release with it cannot slip in unnoticed.
"""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, Qt, QThread, Signal

pytestmark = pytest.mark.skipif(
    sys.version_info >= (3, 12),
    reason="True and False are immortal on Python 3.12+: their reference counts cannot drift",
)

EMITS = 5000
# Other code may take or drop some references meanwhile (queued events of a window test that ran
# just before: about 50 seen); a leaking binding moves the count by one per emit, EMITS in all.
TOLERANCE = 500


class _Rows(QAbstractListModel):
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else 10

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        return index.row() if role == Qt.ItemDataRole.DisplayRole else None


class _Flags(QObject):
    flag = Signal(bool)


class _Sender(QObject):
    flag = Signal(bool)

    def send(self, count: int) -> None:
        for k in range(count):
            self.flag.emit(k % 2 == 0)


class _Counter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.received = 0

    def take(self, value: bool) -> None:
        self.received += 1


@pytest.fixture
def bool_refs():
    """Hold many extra references so that a leaking binding drifts without aborting the run,
    and measure the drift of True's and False's counts across the test body."""
    ballast = [True] * (4 * EMITS) + [False] * (4 * EMITS)
    before = (sys.getrefcount(True), sys.getrefcount(False))

    def drift() -> tuple[int, int]:
        return sys.getrefcount(True) - before[0], sys.getrefcount(False) - before[1]

    yield drift
    del ballast


def _assert_no_drift(drift: tuple[int, int], what: str) -> None:
    true_drift, false_drift = drift
    assert abs(true_drift) <= TOLERANCE and abs(false_drift) <= TOLERANCE, (
        f"{what}: {EMITS} emits moved sys.getrefcount(True) by {true_drift} and"
        f" sys.getrefcount(False) by {false_drift}; this Qt binding leaks references"
    )


def test_data_changed_without_roles_keeps_bool_refcounts(qapp, bool_refs) -> None:
    rows = _Rows()
    for k in range(EMITS):
        index = rows.index(k % 10)
        rows.dataChanged.emit(index, index)
    _assert_no_drift(bool_refs(), "dataChanged(index, index)")


def test_data_changed_with_roles_keeps_bool_refcounts(qapp, bool_refs) -> None:
    rows = _Rows()
    roles = [Qt.ItemDataRole.DecorationRole]
    for k in range(EMITS):
        index = rows.index(k % 10)
        rows.dataChanged.emit(index, index, roles)
    _assert_no_drift(bool_refs(), "dataChanged(index, index, roles)")


def test_bool_signal_keeps_bool_refcounts(qapp, bool_refs) -> None:
    flags, counter = _Flags(), _Counter()
    flags.flag.connect(counter.take)
    for k in range(EMITS):
        flags.flag.emit(k % 2 == 0)
    assert counter.received == EMITS
    _assert_no_drift(bool_refs(), "a Signal(bool) delivered directly")


def test_cross_thread_queued_signal_keeps_bool_refcounts(qapp, qtbot, bool_refs) -> None:
    """The inference worker's signals cross threads: queued, then delivered by the event loop."""
    thread = QThread()
    sender, counter = _Sender(), _Counter()
    sender.moveToThread(thread)
    sender.flag.connect(counter.take, Qt.ConnectionType.QueuedConnection)
    thread.started.connect(lambda: sender.send(EMITS))
    thread.start()
    try:
        qtbot.waitUntil(lambda: counter.received == EMITS, timeout=30000)
    finally:
        thread.quit()
        thread.wait(5000)
    _assert_no_drift(bool_refs(), "a Signal(bool) queued from another thread")
