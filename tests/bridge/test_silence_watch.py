"""The staleness bound's parts on their own: `SilenceWatch` on a clock the test moves, the
`bridge` field of heartbeats on the wire, and the bridge's state file."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from cachesync_cli.bridge.silence import SilenceWatch
from cachesync_cli.bridge.state import BridgeState
from cachesync_cli.config import load_config
from cachesync_cli.errors import ConfigError, DecodeError
from cachesync_cli.wire import Envelope, decode_envelope, encode_envelope
from cachesync_cli.wire.bridge_info import BridgeInfo, IntakeGapInfo


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def heartbeat(**bridge) -> BridgeInfo:
    return BridgeInfo(**bridge)


def test_a_silent_cluster_is_flushed_once_per_max_silence_while_it_lasts():
    clock = Clock()
    watch = SilenceWatch(10, clock=clock)
    watch.watch(["b"])
    clock.now += 9.9
    assert watch.due() == []
    clock.now += 0.2
    assert watch.due() == ["b"]
    assert watch.due() == []  # not again at once
    clock.now += 9.9
    assert watch.due() == []
    clock.now += 0.2
    assert watch.due() == ["b"]  # again, max_silence after the first
    assert watch.report().not_fresh == ["b"] and "b" in watch.report().silent


def test_messages_heard_keep_a_cluster_quiet_and_max_silence_zero_turns_it_off():
    clock = Clock()
    watch = SilenceWatch(10, clock=clock)
    watch.watch(["b"])
    for _ in range(5):
        clock.now += 5
        watch.arrived("b", clock.now)
        watch.handled("b", clock.now, node="b/1", bridge=heartbeat())
        assert watch.due() == []
    off = SilenceWatch(0, clock=clock)
    off.watch(["b"])
    clock.now += 1000
    assert off.due() == [] and off.report().silent == {}


def test_arrived_but_not_yet_applied_is_not_silence():
    """A slow target or a long flush delays applying, not receiving."""
    clock = Clock()
    watch = SilenceWatch(10, clock=clock)
    watch.watch(["b"])
    clock.now += 8
    watch.arrived("b", clock.now)  # queued behind a long flush
    clock.now += 8
    assert watch.due() == []
    watch.handled("b", clock.now - 8, node="b/1", bridge=heartbeat())  # applied at last; heard as of its arrival
    clock.now += 3
    assert watch.due() == ["b"]  # 11 s since that arrival


def test_only_a_bridge_of_the_cluster_vouches_for_it():
    """`invalidate`, `doctor` and `retire` publish under a cluster's id, without its bridge."""
    clock = Clock()
    watch = SilenceWatch(10, clock=clock)
    watch.watch(["b"])
    watch.handled("b", clock.now, node="b/bridge", bridge=heartbeat())
    for _ in range(3):
        clock.now += 4
        watch.handled("b", clock.now, node="b/cli-1")  # an operator's invalidate from b
    assert watch.due() == ["b"]
    watch.handled("b", clock.now, node="b/bridge", bridge=heartbeat())  # its bridge speaks again
    assert watch.report().silent == {}


def test_a_bridge_whose_intake_is_down_or_that_waits_to_publish_does_not_vouch():
    clock = Clock()
    watch = SilenceWatch(10, clock=clock)
    watch.watch(["b"])
    for _ in range(3):
        clock.now += 4
        watch.handled("b", clock.now, bridge=heartbeat(intake="down"))
    assert watch.due() == ["b"]
    watch = SilenceWatch(10, clock=clock)
    watch.watch(["c"])
    for pending in (5_000, 10_500):  # alive, but its oldest invalidation is still not published
        clock.now += 5.25
        watch.handled("c", clock.now, bridge=heartbeat(pending=pending))
    assert watch.due() == ["c"]


def test_fresh_again_only_after_a_heartbeat_sent_after_the_silence_was_detected():
    clock = Clock()
    watch = SilenceWatch(10, clock=clock)
    watch.watch(["b"])
    clock.now += 11
    assert watch.due() == ["b"]
    detected_ms = watch._peers["b"].silent_since_ms
    clock.now += 1
    assert not watch.handled("b", clock.now, bridge=heartbeat(), sent_ms=detected_ms - 5000)  # sent before
    assert watch.report().not_fresh == ["b"]
    assert watch.handled("b", clock.now, bridge=heartbeat(), sent_ms=detected_ms + 1)
    assert watch.report().not_fresh == [] and watch.due() == []


def test_bridge_info_round_trips_and_old_readers_ignore_it():
    info = BridgeInfo(intake="down", interval=2000, pending=1500, stopping=True,
                      intake_gap=IntakeGapInfo("local-channel", "crash", 1795374419000))
    env = Envelope(type="heartbeat", id="e" * 32, origin="a", node="a/1", seq=3, ts=1, applied={"b": 2},
                   bridge=info)
    body = encode_envelope(env)
    assert json.loads(body)["bridge"] == {"intake": "down", "interval": 2000, "pending": 1500, "stopping": True,
                                          "intake_gap": {"source": "local-channel", "reason": "crash",
                                                         "since": 1795374419000}}
    assert decode_envelope(body).bridge == info
    forward = json.loads(body)
    forward["bridge"]["intake"] = "degraded"  # a later version's value: not vouching
    forward["bridge"]["future"] = 1
    assert not decode_envelope(json.dumps(forward).encode()).bridge.vouching
    with pytest.raises(DecodeError):
        decode_envelope(json.dumps({**forward, "bridge": {"pending": -1}}).encode())
    assert decode_envelope(json.dumps({**forward, "type": "ack", "ack_of": "x", "bridge": 5}).encode()).bridge is None


def test_state_file_tells_a_crash_from_a_clean_stop_and_keeps_watched_clusters(tmp_path):
    path = tmp_path / "state.json"
    first = BridgeState(path)
    assert first.first_run and not first.previous_crashed
    first.mark_running()
    first.watch("b")
    crashed = BridgeState(path)  # as after SIGKILL: never marked stopped
    assert crashed.previous_crashed and crashed.watched() == ["b"] and crashed.stopped_at_ms is None
    crashed.mark_running()
    crashed.retire("b", by="operator")
    crashed.mark_stopped()
    clean = BridgeState(path)
    assert not clean.previous_crashed and clean.stopped_at_ms is not None
    assert clean.watched() == [] and clean.retired() == ["b"]
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="state.json"):
        BridgeState(path)


def test_max_silence_must_leave_room_for_four_heartbeats(tmp_path):
    config = tmp_path / "cachesync.toml"
    config.write_text("[sync]\nmax_silence = 6\nheartbeat_interval = 2\n")
    with pytest.raises(ConfigError, match="max_silence = 6.*heartbeat_interval = 2"):
        load_config(config, environ={})
    config.write_text("[sync]\nmax_silence = 0\nheartbeat_interval = 60\n")
    assert load_config(config, environ={})["sync.max_silence"] == 0
    config.write_text("[sync]\non_silence = [\"fence\", \"panic\"]\n")
    with pytest.raises(ConfigError, match="on_silence"):
        load_config(config, environ={})


def test_after_a_silence_only_a_heartbeat_says_how_old_what_arrives_is():
    """A sender back from a cut first delivers what it spooled meanwhile: old news. Until a
    heartbeat says how long its oldest unpublished invalidation waited, the flushes go on."""
    clock = Clock()
    watch = SilenceWatch(3, clock=clock)
    watch.watch(["a"])
    watch.handled("a", clock.now, node="a/1", bridge=heartbeat())
    clock.now += 3.5
    assert watch.due() == ["a"]
    for _ in range(4):  # its spooled invalidations arrive and are applied, for 3 s
        clock.now += 0.75
        watch.arrived("a", clock.now)
        watch.handled("a", clock.now, node="a/1")
    assert watch.due() == ["a"]  # still flushing: no heartbeat yet
    clock.now += 0.1
    watch.handled("a", clock.now, node="a/1", bridge=heartbeat(pending=6_000))  # its spool is 6 s old
    clock.now += 3
    assert watch.due() == ["a"]
    watch.handled("a", clock.now, node="a/1", bridge=heartbeat(pending=0), sent_ms=int(time.time() * 1000) + 1)
    assert watch.due() == [] and watch.report().not_fresh == []


def test_bridge_info_lists_the_silent_clusters_for_status():
    info = BridgeInfo(interval=500, silent={"c": 42000})
    env = Envelope(type="heartbeat", id="f" * 32, origin="a", node="a/1", seq=4, ts=1, applied={}, bridge=info)
    body = encode_envelope(env)
    assert json.loads(body)["bridge"]["silent"] == {"c": 42000}
    assert decode_envelope(body).bridge.silent == {"c": 42000}
    assert "silent" not in json.loads(encode_envelope(dataclasses.replace(env, bridge=BridgeInfo())))["bridge"]
    with pytest.raises(DecodeError):
        decode_envelope(body.replace(b'{"c":42000}', b'{"c":"long"}'))
