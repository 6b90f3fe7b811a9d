"""The checks `doctor` runs, in order. Each names the checks it needs (see runner.py)."""

from __future__ import annotations

from cachesync_cli.doctor import broker, is_queues, local, network, peers
from cachesync_cli.doctor.runner import Check

CHECKS: tuple[Check, ...] = (
    Check("config", "Configuration", network.check_config,
          description="the config file parses and validates; secrets (password, signing keys) can be read"),
    Check("dns", "DNS", network.check_dns, ("config",),
          description="every failover URL's host name resolves"),
    Check("tcp", "TCP connect", network.check_tcp, ("dns",),
          description="a TCP connection to every failover URL, timed against --warn-ms/--crit-ms"),
    Check("tls", "TLS handshake", network.check_tls, ("tcp",),
          description="TLS URLs (amqps://, stomp+ssl://, mqtts://): certificate trusted, names the host, not expiring"),
    Check("auth", "Authentication", broker.check_auth, ("tcp", "tls"),
          description="the broker accepts the user and password (first reachable URL, as a bridge would)"),
    Check("permissions", "Topic permissions", broker.check_permissions, ("auth",),
          description="a transient subscription to the topic and a confirmed publish on it are allowed"),
    Check("roundtrip", "Round trip", broker.check_roundtrip, ("permissions",),
          description="the published probe comes back through the subscription, timed against the thresholds"),
    Check("signature", "Signatures", broker.check_signature, ("roundtrip",),
          description="with [signing] on: the signed probe verifies with the configured keys"),
    Check("clock", "Clock skew", broker.check_clock, ("roundtrip",),
          description="this host's clock against the broker's, where the protocol gives a timestamp"),
    Check("is-queues", "IS subscriptions", is_queues.check_is_queues, ("auth",),
          description="with [doctor] is_subscriptions (RabbitMQ): each IS durable subscription's queue, looked at "
                      "twice, warns when it has no consumer and grows"),
    Check("targets", "Local targets", local.check_targets, ("config",),
          description="every [[targets]] entry is reachable (Redis, memcached, webhooks, directories)"),
    Check("sources", "Local sources", local.check_sources, ("config",),
          description="every [[sources]] entry is reachable"),
    Check("peers", "Peers", peers.check_peers, ("permissions",), optional=True,
          description="with --peers: clusters whose heartbeats arrive within --peers-window, and which "
                      "acknowledge a probe"),
)
