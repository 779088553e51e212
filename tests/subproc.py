"""Run Python code in a fresh interpreter: for what only a new process
shows (an absent library, an environment variable read at load)."""

import os
import subprocess
import sys


def python(code: str, timeout: int = 120, **env) -> subprocess.CompletedProcess:
    """``python -c code`` with the environment plus ``env``; text output."""
    return subprocess.run(
        [sys.executable, "-c", code],
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
