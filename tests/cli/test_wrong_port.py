"""Issue 16, item 7: a broker URL on the wrong port fails within --timeout and says what answers.

Before: `amqp://` on the STOMP port waited 10-15 s and printed `StreamLostError: ('Transport
indicated EOF',)`; `doctor --timeout 2` took 7.1 s. Each case runs the command as a user
types it, against a real service on the port (RabbitMQ's AMQP and STOMP, Redis, Mosquitto,
an HTTP server, a server that accepts and stays silent).
"""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

from cachesync_cli.transport.endpoint import parse_endpoint
from cachesync_cli.transport.probe import classify

from .run import cachesync

TIMEOUT = 2.0
SLACK = 3.5  # the probe (at most 1 s) and starting Python, on a busy machine


def port_of(url: str) -> int:
    return parse_endpoint(url).port


@pytest.fixture(scope="module")
def silent_port():
    """A port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in held:
        conn.close()


@pytest.fixture(scope="module")
def http_port():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def run_timed(*args: str):
    started = time.monotonic()
    result = cachesync(*args, "--timeout", f"{TIMEOUT:g}", timeout=60)
    return result, time.monotonic() - started


def assert_says(result, elapsed: float, where: str, says: str, exit_code: int = 3) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == exit_code, output
    assert where in output and says in output, output
    assert "Traceback" not in output and "StreamLostError" not in output, output
    assert elapsed < TIMEOUT + SLACK, f"took {elapsed:.1f}s with --timeout {TIMEOUT:g}: {output}"


def test_invalidate_amqp_on_the_stomp_port(rabbit_stomp_url):
    port = port_of(rabbit_stomp_url)
    result, elapsed = run_timed("invalidate", "--broker", f"amqp://127.0.0.1:{port}/", "AppCache", "k")
    assert_says(result, elapsed, f"127.0.0.1:{port}", "does not speak AMQP (it answered like STOMP)")
    assert f"stomp://127.0.0.1:{port}" in result.stderr  # the hint: the URL that would work


def test_doctor_amqp_on_the_stomp_port(rabbit_stomp_url):
    """doctor uses Nagios codes: 2 is CRITICAL."""
    port = port_of(rabbit_stomp_url)
    result, elapsed = run_timed("doctor", "--broker", f"amqp://127.0.0.1:{port}/")
    assert_says(result, elapsed, f"127.0.0.1:{port}", "does not speak AMQP (it answered like STOMP)", exit_code=2)


def test_tail_stomp_on_the_amqp_port(amqp_url):
    port = port_of(amqp_url)
    result, elapsed = run_timed("tail", "--broker", f"stomp://127.0.0.1:{port}", "--count", "1")
    assert_says(result, elapsed, f"127.0.0.1:{port}", "does not speak STOMP (it answered like AMQP)")


def test_invalidate_mqtt_on_redis(redis_url):
    port = port_of(redis_url.replace("redis://", "mqtt://"))
    result, elapsed = run_timed("invalidate", "--broker", f"mqtt://127.0.0.1:{port}", "AppCache", "k")
    assert_says(result, elapsed, f"127.0.0.1:{port}", "does not speak MQTT (it answered like Redis)")


def test_tail_amqp_on_an_mqtt_broker(mosquitto_url):
    port = port_of(mosquitto_url)
    result, elapsed = run_timed("tail", "--broker", f"amqp://127.0.0.1:{port}/", "--count", "1")
    assert_says(result, elapsed, f"127.0.0.1:{port}", "does not speak AMQP (it answered like MQTT)")


def test_invalidate_amqps_on_the_plain_amqp_port(amqp_url):
    port = port_of(amqp_url)
    result, elapsed = run_timed("invalidate", "--broker", f"amqps://127.0.0.1:{port}/", "AppCache", "k")
    assert_says(result, elapsed, f"127.0.0.1:{port}", "does not speak TLS (it answered like AMQP, without TLS)")
    assert f"amqp://127.0.0.1:{port}" in result.stderr


def test_invalidate_stomp_on_an_http_server(http_port):
    result, elapsed = run_timed("invalidate", "--broker", f"stomp://127.0.0.1:{http_port}", "AppCache", "k")
    assert_says(result, elapsed, f"127.0.0.1:{http_port}", "does not speak STOMP (it answered like HTTP)")


@pytest.mark.parametrize("scheme", ["amqp", "stomp", "mqtts"])
def test_a_silent_port_is_given_up_on_within_the_timeout(silent_port, scheme):
    result, elapsed = run_timed("invalidate", "--broker", f"{scheme}://127.0.0.1:{silent_port}", "AppCache", "k")
    assert_says(result, elapsed, f"127.0.0.1:{silent_port}", "answered nothing")


@pytest.mark.parametrize("answer, protocol", [
    (b"AMQP\x00\x00\x09\x01", "AMQP"),
    (b"CONNECTED\nserver:RabbitMQ/3.10.8\n\n\x00", "STOMP"),
    (b"ERROR\nmessage:bad frame\n\n\x00", "STOMP"),
    (b" \x02\x00\x00", "MQTT"),
    (b"\x15\x03\x01\x00\x02\x02\n", "TLS"),
    (b"HTTP/1.1 400 Bad Request\r\n", "HTTP"),
    (b"<!DOCTYPE HTML>\n<html>", "HTTP"),
    (b"-ERR unknown command 'CONNECT'\r\n", "Redis"),
    (b"ERROR\r\nERROR\r\n", "memcached"),
    (b'INFO {"server_id":"x"}\r\n', "NATS"),
    (b"garbage", None),
])
def test_what_an_answer_is_taken_for(answer, protocol):
    assert classify(answer) == protocol
