"""Run the real `cachesync` command as a user would, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping

#: The user config dir the commands see unless a test gives XDG_CONFIG_HOME: empty, so that a
#: developer's own context in use (`cachesync context use`) or config file never leaks in.
NO_USER_CONFIG = tempfile.mkdtemp(prefix="cachesync-test-config-")


def cachesync(*args: str, env: Mapping[str, str] | None = None, input: str | None = None,
              timeout: float = 60, cwd=None) -> subprocess.CompletedProcess[str]:
    """`python -m cachesync_cli ARGS` with a clean environment plus `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CACHESYNC_")}
    base.update({"NO_COLOR": "1", "COLUMNS": "200", "TERM": "dumb", "XDG_CONFIG_HOME": NO_USER_CONFIG})
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "cachesync_cli", *args], env=base, input=input,
                          capture_output=True, text=True, timeout=timeout, cwd=cwd)


class Tail:
    """`cachesync tail` running in the background; ready once it says it is listening."""

    def __init__(self, url: str, topic: str, *args: str, env: Mapping[str, str] | None = None) -> None:
        self.argv = ["tail", "--broker", url, "--topic", topic, *args]
        self.env = env
        self.returncode: int | None = None
        self.stderr = ""

    def __enter__(self) -> "Tail":
        import queue
        import threading

        base = {k: v for k, v in os.environ.items() if not k.startswith("CACHESYNC_")}
        base.update({"NO_COLOR": "1", "COLUMNS": "200", "TERM": "dumb", "XDG_CONFIG_HOME": NO_USER_CONFIG,
                     **(self.env or {})})
        self.process = subprocess.Popen([sys.executable, "-m", "cachesync_cli", *self.argv], env=base,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._out: queue.Queue[str | None] = queue.Queue()
        self._err: list[str] = []
        ready = threading.Event()

        def pump_out() -> None:
            for line in self.process.stdout:
                self._out.put(line.rstrip("\n"))
            self._out.put(None)

        def pump_err() -> None:
            for line in self.process.stderr:
                self._err.append(line)
                if "listening on" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=pump_out, daemon=True).start()
        self._err_thread = threading.Thread(target=pump_err, daemon=True)
        self._err_thread.start()
        if not ready.wait(30) or self.process.poll() is not None and not self._listening():
            self.process.kill()
            raise AssertionError(f"tail did not start: {''.join(self._err)}")
        return self

    def _listening(self) -> bool:
        return any("listening on" in line for line in self._err)

    def lines(self, count: int, timeout: float = 60.0) -> list[str]:
        import queue
        import time

        got: list[str] = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            try:
                line = self._out.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"tail printed {len(got)} of {count} lines; stderr: {''.join(self._err)}")
            if line is None:
                raise AssertionError(f"tail ended after {len(got)} of {count} lines; stderr: {''.join(self._err)}")
            got.append(line)
        return got

    def stop(self) -> None:
        """SIGTERM: the test read what it waited for (instead of waiting out --idle-timeout)."""
        self.process.terminate()

    def __exit__(self, *exc_info) -> None:
        try:
            self.returncode = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.returncode = self.process.wait()
        self._err_thread.join(timeout=5)
        self.stderr = "".join(self._err)

    def process_output(self) -> list[str]:
        """Every stdout line not yet taken with `lines()`; call after the `with` block."""
        remaining = []
        while not self._out.empty():
            line = self._out.get_nowait()
            if line is not None:
                remaining.append(line)
        return remaining
