"""`SystemdNotifier` on a socket path, and without $NOTIFY_SOCKET (the bridge's end-to-end
test, test_lifecycle_e2e.py, uses an abstract socket and a real SIGHUP)."""

from __future__ import annotations

import os
import socket

from cachesync_cli.bridge.sd_notify import SystemdNotifier


def test_notifies_a_socket_path_and_removes_the_variables_from_the_environment(tmp_path):
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        environ = {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}
        notifier = SystemdNotifier.from_environ(environ)
        assert environ == {} and notifier.watchdog_interval == 2.0
        notifier.ready("running")
        assert listener.recv(4096) == b"READY=1\nSTATUS=running"


def test_without_notify_socket_nothing_is_sent_and_a_gone_socket_only_warns(tmp_path, caplog):
    assert not SystemdNotifier.from_environ({}).send("READY=1")
    other_pid = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}
    assert SystemdNotifier.from_environ(other_pid).watchdog_interval is None  # another process's watchdog
    gone = SystemdNotifier(str(tmp_path / "nobody-listens"))
    assert not gone.send("READY=1") and not gone.send("STOPPING=1")
    warnings = [r.message for r in caplog.records if "cannot notify the service manager" in r.message]
    assert warnings == [f"cannot notify the service manager at NOTIFY_SOCKET={tmp_path / 'nobody-listens'}: "
                        "No such file or directory"]
