"""Import TensorFlow and Keras with Chip Audit's settings, and without their start-up chatter.

TensorFlow 2.21 logs through absl before absl is initialised, and such lines go to stderr
whatever TF_CPP_MIN_LOG_LEVEL says: every command printed "WARNING: All log messages before
absl::InitializeLog() is called are written to STDERR" and "oneDNN custom operations are on"
(twice) before its own first line. So the import runs with the process's stderr (file
descriptor 2, where C++ writes) caught in a temporary file; afterwards every caught line is
written back except the ones TF_CPP_MIN_LOG_LEVEL asks to hide. Errors and fatal lines, and
anything that is not a log line, still reach the user.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile

# Hide TensorFlow's info and warning lines (the user's own setting wins): 0 shows everything,
# 1 hides info, 2 warnings too, 3 errors too.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512 VNNI/BF16 or AMX.
# On an AVX2-only CPU (the 2-core AMD EPYC we train on) they train VGG16 2.6x faster (60 against
# 23 chips/s at 32 px) and predict 2.2x faster; bench/train_throughput.py measures it. A user's
# own setting wins. It must be set before TensorFlow is imported, hence here.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
# absl's format ("I0000 00:00:1795979422.234720    4381 port.cc:153] ..."; before absl is set
# up, its seconds are counted from 1970) and TensorFlow's older one ("2024-01-11
# 05:40:05.061907: I tensorflow/core/...").
_ABSL_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] ")
_TF_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: ([IWEF]) \S+:\d+\] ")
_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called"


def min_log_level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    except ValueError:
        return 0


def shown_lines(caught: str, min_level: int) -> list[str]:
    """The lines of `caught` a user should still see: log lines at or above `min_level`, and
    every line that is not a log line. A hidden log line takes its continuation lines with it
    (cpu_feature_guard's message runs over two)."""
    shown: list[str] = []
    hiding = False
    for line in caught.splitlines():
        if line.startswith(_ABSL_PREAMBLE):  # absl's own warning that it was not set up
            hiding = False
            if min_level < 1:
                shown.append(line)
            continue
        record = _ABSL_LINE.match(line) or _TF_LINE.match(line)
        if record:
            hiding = SEVERITY[record.group(1)] < min_level
        if not hiding:
            shown.append(line)
    return shown


@contextlib.contextmanager
def _native_stderr_filtered(min_level: int):
    """Catch what is written to file descriptor 2 inside the block; write back what
    `shown_lines` keeps. Where descriptor 2 cannot be caught (no console), nothing is done."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as caught:
        sys.stderr.flush()
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            text = caught.read().decode("utf-8", errors="replace")
            for line in shown_lines(text, min_level):
                print(line, file=sys.stderr)


def import_keras():
    """Keras, with TensorFlow imported quietly behind it (once per process)."""
    if "keras" not in sys.modules:
        level = min_log_level()
        with _native_stderr_filtered(level):
            import keras  # noqa: F401
            import tensorflow as tf
        if level >= 2:  # TensorFlow's Python warnings follow the same setting as its C++ ones
            tf.get_logger().setLevel(logging.ERROR)
            logging.getLogger("absl").setLevel(logging.ERROR)
    return sys.modules["keras"]
