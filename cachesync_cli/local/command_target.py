"""Run a program for each remote invalidation, with the invalidation as JSON on stdin.

`argv` is run directly (no shell), in its own process group, with the JSON document of
`payload.py` on stdin and the bridge's environment. Exit status 0 means applied. A
non-zero status raises TargetError with the status and the first lines of stderr; a
program that runs longer than `timeout` seconds is killed (its whole process group)
and reported as a TargetError; a program that cannot be started (missing, not
executable) is a TargetError too. The program must be idempotent: the bridge calls it
again for the same invalidation after a failure.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess

from cachesync_cli.local.base import Invalidation, Target, TargetError
from cachesync_cli.local.payload import invalidation_json

log = logging.getLogger("cachesync.local")

STDERR_LINES = 5
STDERR_CHARS = 1000


def _first_lines(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip()
    lines = text.splitlines()[:STDERR_LINES]
    return "\n".join(lines)[:STDERR_CHARS]


class CommandTarget(Target):
    type = "command"
    accepts_java_keys = True  # the document shows each key's class and fields (local/payload.py)

    def __init__(self, name, options, context) -> None:
        super().__init__(name, options, context)
        self.argv = list(options["argv"])
        self.timeout = float(options["timeout"])

    def apply(self, invalidation: Invalidation) -> None:
        body = invalidation_json(invalidation)
        try:
            process = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            raise TargetError(f"{self.describe()}: cannot run {self.argv[0]!r}: {exc.strerror or exc}") from None
        try:
            stdout, stderr = process.communicate(body, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self._kill(process)
            raise TargetError(f"{self.describe()}: {self.argv[0]!r} did not finish within {self.timeout:g} s; "
                              "killed") from None
        except BaseException:
            self._kill(process)
            raise
        if stdout:
            log.debug("%s: %s printed: %s", self.describe(), self.argv[0], _first_lines(stdout))
        if process.returncode != 0:
            status = (f"was killed by signal {-process.returncode}" if process.returncode < 0
                      else f"exited with status {process.returncode}")
            detail = _first_lines(stderr)
            raise TargetError(f"{self.describe()}: {self.argv[0]!r} {status}" + (f": {detail}" if detail else ""))

    @staticmethod
    def _kill(process: subprocess.Popen) -> None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            process.kill()
        try:
            process.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a grandchild outside the group holds the pipes
            for stream in (process.stdout, process.stderr):
                stream.close()
            process.wait()

    def check(self) -> None:
        program = self.argv[0]
        path = program if os.sep in program else shutil.which(program)
        if path is None or not os.path.isfile(path):
            raise TargetError(f"{self.describe()}: program {program!r} not found")
        if not os.access(path, os.X_OK):
            raise TargetError(f"{self.describe()}: program {program!r} is not executable")
