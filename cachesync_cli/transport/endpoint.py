"""Broker URLs: parsing, default ports, and a form that is safe to print."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from cachesync_cli.errors import UsageError
from cachesync_cli.transport.schemes import SCHEMES, Scheme, scheme


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
    def info(self) -> Scheme:
        """This scheme's row of the transport table (schemes.py)."""
        return SCHEMES[self.scheme]

    @property
    def family(self) -> str:
        """The protocol family (`amqp` for amqp:// and amqps://): failover URLs share one."""
        return self.info.family

    @property
    def tls(self) -> bool:
        return self.info.tls

    @property
    def in_process(self) -> bool:
        """A broker inside this process (`memory://`): nothing on the network to check."""
        return self.info.in_process

    def param(self, name: str, default: str | None = None) -> str | None:
        return dict(self.params).get(name, default)

    def display(self) -> str:
        """The URL without its password: what logs, errors and `config show` print."""
        user = f"{self.username}:***@" if self.password else (f"{self.username}@" if self.username else "")
        if self.in_process:
            return f"{self.scheme}://{self.host}"
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
            hint=f"write it as SCHEME://HOST[:PORT], SCHEME one of {', '.join(SCHEMES)}",
        )
    parts = urlsplit(url)
    name = parts.scheme.lower()
    info = scheme(name, where=f"{name}://{parts.hostname or ''}")
    if info.in_process:
        return Endpoint(scheme=name, host=parts.netloc or "default", port=0)
    try:
        port = parts.port or info.default_port
    except ValueError as exc:
        raise UsageError(f"broker URL {name}://{parts.hostname}: bad port ({exc})") from None
    if not parts.hostname:
        raise UsageError(f"broker URL {name}://... has no host name")
    path = unquote(parts.path[1:]) if parts.path.startswith("/") else unquote(parts.path)
    return Endpoint(
        scheme=name,
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        path=path,
        params=tuple(parse_qsl(parts.query)),
    )
