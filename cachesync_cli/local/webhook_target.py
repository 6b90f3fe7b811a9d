"""POST each remote invalidation as JSON (see `payload.py`) to every configured node URL.

Any 2xx answer is success. A connection error, a timeout, 408, 429 or a 5xx is retried,
up to `retries` attempts per URL with exponential backoff (0.2 s, 0.4 s, ... at most
5 s); other answers (3xx: redirects are not followed, 4xx) fail that URL at once. Every
URL is tried even when one fails; URLs that succeeded are not called again within the
same `apply`. If any URL failed, `apply` raises TargetError naming each failed URL and
its last status or error (the bridge retries the whole invalidation; nodes must treat
a repeated invalidation as harmless, which deleting cache entries is).

`Authorization: Bearer <token>` when `token` is set; the token is read when the target
is built (ConfigError naming the setting when it cannot be) and never logged.
"""

from __future__ import annotations

import logging
import socket
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from cachesync_cli.config.resolve import resolve_secret
from cachesync_cli.local.base import Invalidation, Target, TargetError
from cachesync_cli.local.payload import invalidation_json
from cachesync_cli.transport.backoff import Backoff

log = logging.getLogger("cachesync.local")

RETRY = Backoff(base=0.2, cap=5.0, jitter=False)
RETRIED_STATUSES = frozenset({408, 429})


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a 3xx becomes an HTTPError: a POST must not silently turn into a GET


class WebhookTarget(Target):
    type = "webhook"
    accepts_java_keys = True  # the document shows each key's class and fields (local/payload.py)

    def __init__(self, name, options, context) -> None:
        super().__init__(name, options, context)
        self.urls = list(options["urls"])
        self.timeout = float(options["timeout"])
        self.attempts = max(1, int(options["retries"]))
        token = options.get("token")
        self._token = resolve_secret(token, f"{self.describe()} token", context.environ) if token else None
        self._opener = urllib.request.build_opener(_NoRedirects)

    def apply(self, invalidation: Invalidation) -> None:
        body = invalidation_json(invalidation)
        failures = []
        for url in self.urls:
            problem = self._post_with_retries(url, body)
            if problem is not None:
                failures.append(f"{url}: {problem}")
        if failures:
            raise TargetError(f"{self.describe()}: {len(failures)} of {len(self.urls)} URL(s) failed "
                              f"after {self.attempts} attempt(s): {'; '.join(failures)}")

    def _post_with_retries(self, url: str, body: bytes) -> str | None:
        """None when `url` answered 2xx, else what went wrong the last time."""
        problem = None
        for attempt in range(1, self.attempts + 1):
            problem, retry = self._post(url, body)
            if problem is None:
                return None
            log.debug("%s: POST %s attempt %d: %s", self.describe(), url, attempt, problem)
            if not retry:
                break
            if attempt < self.attempts:
                time.sleep(RETRY.delay(attempt - 1))
        return problem

    def _post(self, url: str, body: bytes) -> tuple[str | None, bool]:
        """(None, _) on success, else (problem, worth retrying)."""
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "User-Agent": "cachesync"})
        if self._token:
            request.add_unredirected_header("Authorization", f"Bearer {self._token}")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read(65536)
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return f"{type(reason).__name__}: {reason}", not isinstance(exc, ValueError)
        if 200 <= status < 300:
            return None, False
        return f"HTTP {status}", status >= 500 or status in RETRIED_STATUSES

    def check(self) -> None:
        """Each URL's host accepts a TCP connection (no request is sent)."""
        for url in self.urls:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            try:
                socket.create_connection((parts.hostname, port), timeout=self.timeout).close()
            except (OSError, TypeError) as exc:
                raise TargetError(f"{self.describe()}: {url} unreachable: {exc}") from None
