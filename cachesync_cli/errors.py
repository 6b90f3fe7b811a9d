"""One root exception, subclasses with clear meaning, and the exit codes they map to.

Every error a user can see is a `CachesyncError`. Driver exceptions (pika, stomp.py,
paho, redis) are translated at the edge of the module that imports the driver, so the
CLI never prints a driver traceback and never has to import a driver to catch one.
"""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    """Exit codes shared by the commands (`doctor` has Nagios codes of its own)."""

    OK = 0
    FAILURE = 1  # the command ran but did not achieve what was asked (e.g. not confirmed)
    USAGE = 2  # bad command line, bad configuration, bad input file
    UNREACHABLE = 3  # broker unreachable, authentication or permission refused
    INTERRUPTED = 130  # Ctrl-C (SIGINT), as a shell reports a process it interrupted


class CachesyncError(Exception):
    """Root of every error cachesync reports to a user."""

    exit_status = ExitStatus.FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(CachesyncError):
    """The command line or an input file is wrong."""

    exit_status = ExitStatus.USAGE


class ConfigError(UsageError):
    """A configuration file or setting is invalid. The message names file and key."""


class DecodeError(CachesyncError):
    """Bytes from the wire are not a valid message. The only error decoders raise."""

    def __init__(self, message: str, *, reason: str = "malformed", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason  # a short label, used as a metric/log reason


class SignatureError(DecodeError):
    """A message is unsigned where a signature is required, or its signature is wrong."""


class TransportError(CachesyncError):
    """Something went wrong talking to a broker."""

    exit_status = ExitStatus.UNREACHABLE


class ConnectionFailed(TransportError):
    """The broker could not be reached, or the connection was lost. Worth retrying."""


class ClientIdTaken(ConnectionFailed):
    """The broker refused the connection because another client holds its client id (ActiveMQ
    over STOMP). Retried like any failed connection (at a reconnection it may be this process's
    own previous connection, not yet gone); a broker leg refuses to start on it."""


class AuthenticationFailed(TransportError):
    """The broker refused the credentials. Retrying will not help."""


class PermissionDenied(TransportError):
    """The broker refused an operation on a destination. Retrying will not help."""


class ClientIdInUse(TransportError):
    """Another client keeps connecting with the same client id and taking the session over
    (two bridges of one cluster). Retrying would only take it back and forth."""


class SubscriptionInUse(UsageError):
    """At start, another consumer already takes from this cluster's durable subscription: a
    second bridge with the same cluster id, which would take part of the messages."""


class NotConfirmed(TransportError):
    """The broker did not confirm a publish in time, or rejected it."""

    exit_status = ExitStatus.FAILURE


FATAL_TRANSPORT_ERRORS = (AuthenticationFailed, PermissionDenied, ClientIdInUse)
"""Errors that stop reconnection at once instead of being retried."""
