"""Run the real `cachesync` command as a user would, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping


def cachesync(*args: str, env: Mapping[str, str] | None = None, input: str | None = None,
              timeout: float = 60, cwd=None) -> subprocess.CompletedProcess[str]:
    """`python -m cachesync_cli ARGS` with a clean environment plus `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CACHESYNC_")}
    base.update({"NO_COLOR": "1", "COLUMNS": "200", "TERM": "dumb"})
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "cachesync_cli", *args], env=base, input=input,
                          capture_output=True, text=True, timeout=timeout, cwd=cwd)
