"""Checks before any broker protocol: the config, DNS, TCP and TLS of every failover URL.

Done with `socket` and `ssl` directly, per URL, so that a failover URL that is down shows
even while another one works (a bridge would only notice when it fails over).
"""

from __future__ import annotations

import socket
import ssl
import time

from cachesync_cli.doctor.context import DoctorContext
from cachesync_cli.doctor.model import Detail, Outcome, Status, fail, not_applicable, ok, warn, worst
from cachesync_cli.errors import CachesyncError

EXPIRY_WARN_DAYS = 30


def check_config(ctx: DoctorContext) -> Outcome:
    from cachesync_cli.transport.connection import BrokerConnection

    try:
        cfg = ctx.load_config()
        BrokerConnection(cfg.broker_urls(), ctx.connect_options())  # checks the URLs; connects nothing
        ctx.keyring()  # reads the signing keys, checks `require`
    except CachesyncError as error:
        return fail(error.message, error.hint or "fix the file; `cachesync config validate` checks it")
    where = str(cfg.path) if cfg.path else "no config file (flags and environment only)"
    urls = len(cfg["broker.url"])
    return ok(f"{where}: topic {cfg['broker.topic']!r}, cluster {ctx.cluster()!r}, "
              f"{urls} broker URL{'s' if urls > 1 else ''}, "
              f"{len(cfg['targets'])} target(s), {len(cfg['sources'])} source(s)")


def _network_endpoints(ctx: DoctorContext):
    return [ep for ep in ctx.endpoints() if not ep.in_process]


def _tls_schemes(with_ports: bool = False) -> str:
    """The TLS URL schemes of the transport table, for messages: `amqps:// (5671), ...`."""
    from cachesync_cli.transport.schemes import tls_schemes

    return ", ".join(f"{s.name}://" + (f" {s.default_port}" if with_ports else "") for s in tls_schemes())


def _aggregate(details: list[Detail], what: str, hint: str, metrics=None) -> Outcome:
    """One outcome for per-URL details: fail when every URL fails, warn when only some do."""
    status = worst(d.status for d in details)
    bad = [d for d in details if d.status is not Status.OK]
    metrics = metrics or {}
    if len(details) == 1:
        message = details[0].message
    elif status is Status.OK:
        message = f"all {len(details)} broker URLs ok"
    else:
        message = f"{len(bad)} of {len(details)} broker URLs {what}"
    if status is Status.OK:
        return ok(message, metrics=metrics, details=tuple(details))
    if all(d.status is Status.FAIL for d in details):
        return fail(message, hint, metrics=metrics, details=tuple(details))
    return warn(message, hint + " (failover still has a working URL)", metrics=metrics, details=tuple(details))


def check_dns(ctx: DoctorContext) -> Outcome:
    endpoints = _network_endpoints(ctx)
    if not endpoints:
        return not_applicable("memory:// broker: nothing to resolve")
    details = []
    for ep in endpoints:
        key = (ep.host, ep.port)
        try:
            infos = socket.getaddrinfo(ep.host, ep.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            ctx._cache[f"addrs:{key}"] = ([], None)
            details.append(Detail(str(ep), Status.FAIL, f"cannot resolve {ep.host!r}: {exc.strerror or exc}"))
            continue
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        ctx._cache[f"addrs:{key}"] = (infos, None)
        details.append(Detail(str(ep), Status.OK, f"{ep.host} -> {', '.join(addresses)}"))
    return _aggregate(details, "do not resolve", "check the host name in [broker] url, and /etc/resolv.conf")


def _connect(ep, timeout: float) -> tuple[socket.socket, float]:
    """A TCP connection to the first address of `ep` that answers, and how long it took (ms)."""
    last: OSError | None = None
    for family, kind, proto, _, address in socket.getaddrinfo(ep.host, ep.port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        started = time.monotonic()
        try:
            sock.connect(address)
            return sock, (time.monotonic() - started) * 1000
        except OSError as exc:
            sock.close()
            last = exc
    raise last or OSError("no address")


def check_tcp(ctx: DoctorContext) -> Outcome:
    endpoints = _network_endpoints(ctx)
    if not endpoints:
        return not_applicable("memory:// broker: no network")
    thresholds = ctx.settings.thresholds
    details, first_ms = [], None
    for ep in endpoints:
        try:
            sock, elapsed = _connect(ep, ctx.settings.timeout)
            sock.close()
        except socket.timeout:
            details.append(Detail(str(ep), Status.FAIL, f"no answer from {ep.host}:{ep.port} within "
                                                        f"{ctx.settings.timeout:g}s"))
            continue
        except OSError as exc:
            details.append(Detail(str(ep), Status.FAIL,
                                  f"cannot connect to {ep.host}:{ep.port}: {exc.strerror or exc}"))
            continue
        status = thresholds.judge(elapsed)
        first_ms = elapsed if first_ms is None else first_ms
        note = "" if status is Status.OK else (
            f" (above {thresholds.crit_ms:g} ms)" if status is Status.FAIL else f" (above {thresholds.warn_ms:g} ms)")
        details.append(Detail(str(ep), status, f"{ep.host}:{ep.port} connected in {elapsed:.1f} ms{note}"))
    metrics = {"connect_ms": first_ms} if first_ms is not None else {}
    if all(d.status is Status.FAIL for d in details) and first_ms is not None:
        return fail(details[0].message if len(details) == 1 else f"all {len(details)} broker URLs are slow",
                    "the network or the broker is too slow; see --crit-ms", metrics=metrics, details=tuple(details),
                    blocking=False)
    return _aggregate(details, "are unreachable or slow",
                      "is the broker running and listening on that port? is a firewall in the way?", metrics)


def _days_left(cert: dict) -> float | None:
    try:
        return (ssl.cert_time_to_seconds(cert["notAfter"]) - time.time()) / 86400
    except (KeyError, ValueError):
        return None


def _tls_detail(ctx: DoctorContext, ep) -> tuple[Detail, str | None]:
    tls = ctx.connect_options().tls
    ca = f"the CA file {tls.ca_file}" if tls.ca_file else "the system's trusted CAs"
    try:
        context = tls.ssl_context()
    except (OSError, ssl.SSLError) as exc:
        return (Detail(str(ep), Status.FAIL, f"cannot load the TLS files: {exc}"),
                "check [broker.tls] ca_file, cert_file and key_file: they must exist and be PEM")
    try:
        sock, _ = _connect(ep, ctx.settings.timeout)
    except OSError as exc:
        return Detail(str(ep), Status.FAIL, f"cannot connect: {exc.strerror or exc}"), None
    try:
        with context.wrap_socket(sock, server_hostname=ep.host) as tls_sock:
            cert = tls_sock.getpeercert() or {}
            version = tls_sock.version()
    except ssl.SSLCertVerificationError as exc:
        code, text = exc.verify_code, exc.verify_message
        if code in (18, 19, 20, 21):  # self-signed, self-signed in chain, unknown issuer
            return (Detail(str(ep), Status.FAIL, f"certificate not trusted: {text} (checked against {ca})"),
                    "set [broker.tls] ca_file to the CA (PEM) that signed the broker's certificate")
        if code == 10:
            return (Detail(str(ep), Status.FAIL, f"certificate has expired: {text}"),
                    "renew the broker's certificate")
        if code in (62, 64):  # host name or IP address mismatch
            return (Detail(str(ep), Status.FAIL, f"certificate does not name host {ep.host!r}: {text}"),
                    "use a host name the certificate lists in [broker] url, or reissue the certificate "
                    "with that name in subjectAltName")
        return (Detail(str(ep), Status.FAIL, f"certificate verification failed: {text}"),
                "check the broker's certificate and [broker.tls] ca_file")
    except (ssl.SSLError, OSError) as exc:
        from cachesync_cli.transport.probe import probe_budget, wrong_protocol

        wrong = wrong_protocol(ep, probe_budget(ctx.settings.timeout), tls_failed=True)
        if wrong is not None:  # e.g. "does not speak TLS (it answered like AMQP, without TLS)"
            return Detail(str(ep), Status.FAIL, f"TLS handshake failed: {wrong.message}"), wrong.hint
        reason = (exc.reason if isinstance(exc, ssl.SSLError) else exc.strerror) or exc
        return (Detail(str(ep), Status.FAIL, f"TLS handshake failed: {reason}"),
                f"does this port speak TLS? (by default: {_tls_schemes(with_ports=True)})")
    if not tls.verify:
        return (Detail(str(ep), Status.WARN, f"{version}, certificate NOT verified ([broker.tls] verify = false)"),
                "turn verification on: set [broker.tls] ca_file and remove verify = false")
    days = _days_left(cert)
    expiry = f", certificate valid for {days:.0f} more days" if days is not None else ""
    if days is not None and days < EXPIRY_WARN_DAYS:
        return (Detail(str(ep), Status.WARN, f"{version}, certificate expires in {days:.1f} days "
                                             f"({cert.get('notAfter')})"),
                "renew the broker's certificate before it expires")
    return Detail(str(ep), Status.OK, f"{version}, certificate verified for {ep.host}{expiry}"), None


def check_tls(ctx: DoctorContext) -> Outcome:
    endpoints = [ep for ep in _network_endpoints(ctx) if ep.tls]
    if not endpoints:
        return not_applicable(f"no TLS URL ({_tls_schemes()}) configured")
    details, hints = [], []
    for ep in endpoints:
        detail, hint = _tls_detail(ctx, ep)
        details.append(detail)
        if hint and hint not in hints:
            hints.append(hint)
    outcome = _aggregate(details, "fail TLS", "; ".join(hints))
    if outcome.status is Status.WARN and all(d.status is not Status.FAIL for d in details):
        return warn(outcome.message, "; ".join(hints), details=tuple(details))  # no failover to fall back on
    return outcome
