"""The bridge's HTTP endpoint (HEAD answers like GET, without the body): `GET /healthz`
(200 ready, 503 not, JSON body saying why),
`GET /fresh` (503 while the bridge fences its cluster, see `PeerWatch.freshness`; 200 otherwise,
the JSON body saying which watched clusters are silent) and `GET /metrics` (Prometheus
text). Bound to `[monitor] listen`, 127.0.0.1 by default."""

from __future__ import annotations

import http.server
import json
import logging
import threading

from cachesync_cli.bridge.health import HealthCheck
from cachesync_cli.errors import ConfigError

log = logging.getLogger("cachesync.bridge.monitor")


class MonitorServer:
    def __init__(self, bridge, listen: str) -> None:
        from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

        from cachesync_cli.bridge.metrics import bridge_registry

        registry = bridge_registry(bridge)
        health = HealthCheck(bridge)

        class Handler(http.server.BaseHTTPRequestHandler):
            head = False  # HEAD: the status and headers GET would send, without the body

            def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
                self.head = True
                self.do_GET()

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                if self.path == "/healthz":
                    report = health.report()
                    self._send(200 if report.ready else 503, "application/json",
                               json.dumps(report.to_json()).encode())
                elif self.path == "/fresh":
                    status = bridge.status()
                    self._send(503 if status.fenced else 200, "application/json",
                               json.dumps(status.freshness).encode())
                elif self.path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
                else:
                    self._send(404, "application/json", b'{"error": "try /healthz, /fresh or /metrics"}')

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not self.head:
                    self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass  # scrapes every few seconds would flood the log

        host, _, port = listen.rpartition(":")
        try:
            self.server = http.server.ThreadingHTTPServer((host.strip("[]"), int(port)), Handler)
        except OSError as exc:
            raise ConfigError(f"[monitor] listen {listen}: cannot listen ({exc.strerror})",
                              hint="choose a free port, or set [monitor] enabled = false") from None
        self.server.daemon_threads = True
        self.address = "%s:%d" % self.server.server_address[:2]
        # polls for shutdown() every 0.1 s (0.5 by default: a stop waited for it)
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
                                        name="cachesync-monitor")

    def start(self) -> None:
        self._thread.start()
        log.info("health and metrics on http://%s/healthz and /metrics", self.address)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
