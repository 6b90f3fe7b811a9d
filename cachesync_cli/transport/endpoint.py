"""Broker URLs: parsing, default ports, and a form that is safe to print."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from cachesync_cli.errors import UsageError

DEFAULT_PORTS: dict[str, int] = {
    "amqp": 5672,
    "amqps": 5671,
    "stomp": 61613,
    "stomp+ssl": 61614,
    "mqtt": 1883,
    "mqtts": 8883,
    "memory": 0,
}
TLS_SCHEMES = frozenset({"amqps", "stomp+ssl", "mqtts"})


@dataclass(frozen=True)
class Endpoint:
    """One broker address, parsed from a URL such as `amqp://user:pw@host:5672/vhost`."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    path: str = ""  # AMQP virtual host, STOMP host header; empty means the broker's default
    params: tuple[tuple[str, str], ...] = ()

    @property
    def tls(self) -> bool:
        return self.scheme in TLS_SCHEMES

    def param(self, name: str, default: str | None = None) -> str | None:
        return dict(self.params).get(name, default)

    def display(self) -> str:
        """The URL without its password: what logs, errors and `config show` print."""
        user = f"{self.username}:***@" if self.password else (f"{self.username}@" if self.username else "")
        if self.scheme == "memory":
            return f"memory://{self.host}"
        path = f"/{self.path}" if self.path else ""
        return f"{self.scheme}://{user}{self.host}:{self.port}{path}"

    def __str__(self) -> str:
        return self.display()


def redact_url(url: str) -> str:
    """`url` with any password replaced by `***`; never raises."""
    try:
        return parse_endpoint(url).display()
    except UsageError:
        parts = urlsplit(url) if "://" in url else None
        if parts and parts.password:
            return url.replace(f":{parts.password}@", ":***@")
        return url


def parse_endpoint(url: str) -> Endpoint:
    """Parse a broker URL. Raises UsageError naming the URL (redacted) and what is allowed."""
    if "://" not in url:
        raise UsageError(
            f"broker URL {url!r} has no scheme",
            hint=f"write it as SCHEME://HOST[:PORT], SCHEME one of {', '.join(DEFAULT_PORTS)}",
        )
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        close = difflib.get_close_matches(scheme, DEFAULT_PORTS, n=1)
        hint = f"did you mean {close[0]}://? " if close else ""
        raise UsageError(
            f"unknown broker URL scheme {scheme!r} in {scheme}://{parts.hostname or ''}",
            hint=f"{hint}supported: {', '.join(DEFAULT_PORTS)}",
        )
    if scheme == "memory":
        return Endpoint(scheme="memory", host=parts.netloc or "default", port=0)
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise UsageError(f"broker URL {scheme}://{parts.hostname}: bad port ({exc})") from None
    if not parts.hostname:
        raise UsageError(f"broker URL {scheme}://... has no host name")
    path = unquote(parts.path[1:]) if parts.path.startswith("/") else unquote(parts.path)
    return Endpoint(
        scheme=scheme,
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        path=path,
        params=tuple(parse_qsl(parts.query)),
    )
