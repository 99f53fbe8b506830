"""The trainer process, seen from the window: start, progress, cancel, and death detection.

Training runs in a separate process (`python -m model.retrain`, through QProcess): the window
stays responsive, memory goes back when it ends, and a crash there leaves the app, the session and
the active model untouched. Events arrive as JSON lines on its stdout.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from model.paths import REPO_ROOT
from model.retrain import MARKER
from model.train_config import TrainConfig

CANCEL_GRACE_MS = 10_000  # a cancelled trainer that has not stopped by then is killed


class TrainerProcess(QObject):
    event = Signal(dict)  # a TrainEvent as a dict
    done = Signal(dict)  # the comparison
    cancelled = Signal()
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.process = QProcess(self)
        self.process.setProcessChannelMode(QProcess.ProcessChannelMode.SeparateChannels)
        self.process.readyReadStandardOutput.connect(self._read)
        self.process.readyReadStandardError.connect(self._read_errors)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._error)
        self._buffer = b""
        self._stderr_tail = b""
        self._ended = False
        self._cancel_asked = False
        self._settings_file: Path | None = None
        self._kill_timer = QTimer(self, singleShot=True, interval=CANCEL_GRACE_MS)
        self._kill_timer.timeout.connect(self.kill)

    @property
    def running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning and not self._ended

    def start(self, config: TrainConfig, baseline: str | Path | None) -> None:
        settings = {
            "config": {
                k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()
            },
            "baseline": str(baseline) if baseline else None,
        }
        fd, name = tempfile.mkstemp(suffix=".json", prefix="chip-audit-retrain-")
        with open(fd, "w", encoding="utf-8") as handle:
            json.dump(settings, handle)
        self._settings_file = Path(name)
        env = QProcessEnvironment.systemEnvironment()
        path = env.value("PYTHONPATH", "")
        env.insert("PYTHONPATH", str(REPO_ROOT) + (":" + path if path else ""))
        env.insert("TF_CPP_MIN_LOG_LEVEL", "2")
        self.process.setProcessEnvironment(env)
        self.process.start(sys.executable, ["-u", "-m", "model.retrain", str(self._settings_file)])

    def cancel(self) -> None:
        if self.running:
            self._cancel_asked = True
            self.process.write(b"cancel\n")
            self._kill_timer.start()

    def kill(self) -> None:
        if self.process.state() != QProcess.ProcessState.NotRunning:
            self.process.kill()

    def pid(self) -> int:
        return int(self.process.processId())

    def _read(self) -> None:
        self._buffer += bytes(self.process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace")
            if not line.startswith(MARKER):
                continue
            message = json.loads(line[len(MARKER) :])
            kind = message.pop("kind")
            if kind == "event":
                self.event.emit(message)
            elif not self._ended:
                self._end()
                if kind == "done":
                    self.done.emit(message["comparison"])
                elif kind == "cancelled":
                    self.cancelled.emit()
                else:
                    self.failed.emit(message.get("message", "training failed"))

    def _read_errors(self) -> None:
        self._stderr_tail = (self._stderr_tail + bytes(self.process.readAllStandardError()))[-4000:]

    def _finished(self, exit_code: int, status: QProcess.ExitStatus) -> None:
        self._read()
        if self._ended:
            return
        self._end()
        if self._cancel_asked:
            self.cancelled.emit()
            return
        how = (
            "crashed or was killed"
            if status == QProcess.ExitStatus.CrashExit
            else f"exited with code {exit_code}"
        )
        self.failed.emit(f"the trainer process {how} before finishing")

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and not self._ended:
            self._end()
            self.failed.emit(f"could not start the trainer ({sys.executable})")

    def _end(self) -> None:
        self._ended = True
        self._kill_timer.stop()
        if self._settings_file is not None:
            self._settings_file.unlink(missing_ok=True)
