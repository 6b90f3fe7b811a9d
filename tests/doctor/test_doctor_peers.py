"""`doctor --peers` on a real broker, with the peers played by the test: heartbeats and acks
published by a raw publisher, as bridges would (WIRE.md §2)."""

from __future__ import annotations

import json
import threading

from cachesync_cli.transport.base import ConnectOptions, SubscriptionSpec
from cachesync_cli.transport.connection import BrokerConnection
from cachesync_cli.wire import Envelope, encode_envelope, new_envelope_id, now_ms
from tests.doctor.helpers import check, doctor

JSON = {"content-type": "application/json"}


class FakePeers:
    """Two clusters on the topic: dc-acks heartbeats and acks every ack request for the
    doctor's reserved cache; dc-silent only heartbeats."""

    def __init__(self, url: str, topic: str) -> None:
        self.topic = topic
        self.connection = BrokerConnection([url], ConnectOptions()).open()
        self.stop = threading.Event()
        self.seq = {"dc-acks": 0, "dc-silent": 0}
        self.acked: list[str] = []

    def send(self, origin: str, type: str, **fields) -> None:
        self.seq[origin] += 1
        envelope = Envelope(type=type, id=new_envelope_id(), origin=origin, node=f"{origin}/b1",
                            seq=self.seq[origin], ts=now_ms(), **fields)
        self.connection.publish(self.topic, encode_envelope(envelope), JSON, confirm=True)

    def on_message(self, delivery) -> None:
        message = json.loads(delivery.body)
        items = message.get("items") or []
        if message.get("ack") and items and items[0]["cache"] == "__cachesync_doctor__":
            self.acked.append(message["id"])
            threading.Thread(target=self.send, args=("dc-acks", "ack"), kwargs={"ack_of": message["id"]}).start()

    def heartbeats(self) -> None:
        while not self.stop.is_set():
            for origin in self.seq:
                self.send(origin, "heartbeat", applied={"dc-x": 3})
            self.stop.wait(0.5)

    def __enter__(self) -> FakePeers:
        self.connection.subscribe(SubscriptionSpec(self.topic, self.on_message))
        self.thread = threading.Thread(target=self.heartbeats, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.connection.close()


def test_peers_lists_clusters_alive_and_which_acknowledge(amqp_url, topic_name):
    with FakePeers(amqp_url, topic_name) as peers:
        code, report, _ = doctor("--broker", amqp_url, "--topic", topic_name, "--peers", "--peers-window", "2",
                                 "--only", "peers")
    result = check(report, "peers")
    by_origin = {d["name"]: d for d in result["details"]}
    assert len(peers.acked) == 1
    assert code == 1 and result["status"] == "warn"
    assert set(by_origin) == {"dc-acks", "dc-silent"}  # the doctor's own probes are not peers
    assert by_origin["dc-acks"]["status"] == "ok" and "acknowledged the probe" in by_origin["dc-acks"]["message"]
    assert "node dc-acks/b1" in by_origin["dc-acks"]["message"]
    assert by_origin["dc-silent"]["status"] == "warn"
    assert "no ack from dc-silent within 2s" in by_origin["dc-silent"]["message"]
    assert result["metrics"] == {"peers": 2.0, "peers_acked": 1.0}


def test_peers_with_nobody_on_the_topic_warns(amqp_url, topic_name):
    code, report, _ = doctor("--broker", amqp_url, "--topic", topic_name, "--peers", "--peers-window", "1")
    assert code == 1
    assert check(report, "peers")["status"] == "warn"
    assert "no heartbeat from any other cluster" in check(report, "peers")["message"]
    assert check(report, "roundtrip")["status"] == "ok"
