"""Running `python main.py ...` in a child process, and seeing whether it loaded TensorFlow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# main.py's work, then one more line on stdout: whether TensorFlow was imported on the way.
_WATCHING = (
    "import sys\n"
    "from model.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print('tensorflow imported:', 'tensorflow' in sys.modules)\n"
    "sys.exit(code)\n"
)


def run_watching_imports(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """As `python main.py ARGS`; its stdout ends with "tensorflow imported: True/False"."""
    return subprocess.run(
        [sys.executable, "-c", _WATCHING, *map(str, args)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


def loaded_tensorflow(result: subprocess.CompletedProcess[str]) -> bool:
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("tensorflow imported: "), result.stdout
    return last.endswith("True")
