"""Hostile input at the sources, end to end: a bad or hostile application of cluster a feeds
its bridge garbage through every source (a Redis channel, HTTP, Redis keyspace notifications)
while real bridges run on RabbitMQ. Bridge a stays up, rejects what cannot be parsed (counted
by reason, logged a few times, not once per message), turns a key too large for any message
into `all` for its cache (b flushes that cache: nothing is lost), and every real invalidation
sent after the bad input is applied in b. (Issue 15: one 1,048,400-character key made a's
bridge exit 1, and nothing of a reached b after it.) The receiving side's hostile input is
test_hostile_input.py's."""

from __future__ import annotations

import http.client
import json
import random
import socket
import time

from cachesync_cli.bridge.spool import Spool
from cachesync_cli.publisher import Publisher
from cachesync_cli.wire import Item

from .helpers import (
    BridgeProcess,
    cluster_names,
    metric,
    metrics,
    record,
    redis_dbs,  # noqa: F401 (fixture)
    two_configs,
    wait_until,
)

ISSUE_KEY = "x" * 1_048_400
HUGE_NAME = "H" * 1_048_500  # a local message of it fits in 1 MiB; not even its `all` fits an envelope
REAL = 10  # real invalidations per source, after the hostile input


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def largest_key(cluster: str, cache: str, *, codec: str = "native", manager: str | None = None) -> int:
    """The longest key of `cache` a's bridge can put in one message (same origin and node length)."""
    publisher = Publisher("t", origin=cluster, node=f"{cluster}/000000", codec=codec)
    low, high = 0, publisher.max_bytes
    while low < high:
        middle = (low + high + 1) // 2
        fits = not publisher.fit([Item(cache, ("k" * middle,), manager=manager)]).changed
        low, high = (middle, high) if fits else (low, middle - 1)
    return low


def wait_gone(redis_b, keys, message: str, timeout: float = 30) -> None:
    """Wait until none of `keys` is in b's Redis; name those left when it times out."""
    try:
        wait_until(lambda: redis_b.exists(*keys) == 0, timeout=timeout, message=message)
    except AssertionError:
        left = [key[:40] for key in keys if redis_b.exists(key)]
        raise AssertionError(f"{message}: still in b: {left}") from None


def j(obj) -> bytes:
    return json.dumps(obj).encode()


def hostile_bodies(rng: random.Random) -> list[tuple[str, bytes]]:
    """Local messages, each with the reason a bridge must reject it under (seeded variations)."""
    out: list[tuple[str, bytes]] = []
    for _ in range(40):  # binary garbage, invalid UTF-8
        out.append(("malformed", b"\xff" + rng.randbytes(rng.randint(0, 200))))
    for _ in range(10):
        out.append(("malformed", b'{"cache":"C","keys":["' + rng.randbytes(8) + b'\xc3\x28"]}'))
    for depth in (65, 1_000, rng.randint(50_000, 200_000)):  # nesting past the limit, and past the recursion limit
        out.append(("malformed", b'{"cache":"C","keys":' + b"[" * depth + b"]" * depth + b"}"))
    out += [("malformed", body) for body in (
        b'{"cache":"C","keys":["k"],"tenant":{"domain":"d","id":' + b"9" * 5000 + b"}}",  # int() refuses it
        b'{"cache":"C","keys":[NaN]}', b'{"cache":"C","keys":[Infinity]}', b'{"cache":"C","cache":"D","keys":["k"]}',
        b'{"cache":"C","keys":["a\x00b"]}', b'{"cache":"C","keys":["k"]', b"", b"   ", b"{" * 10,
    )]
    out += [("invalid", body) for body in (
        b"[]", b'"x"', b"1", b"null", b"true", j([{"cache": "C", "keys": ["k"]}]), b"{}",
        j({"items": []}), j({"items": {}}), j({"cache": "C", "keys": []}), j({"cache": "C"}), j({"cache": ""}),
        j({"cache": "C", "keys": ["k"], "all": True}), j({"cache": "C", "keys": ["k"], "zzz": 1}),
        j({"cache": "C", "keys": ["k"], "items": [{"cache": "D", "all": True}]}), j({"origin": "", "cache": "C"}),
        b'{"cache":"C","keys":[1e999]}', b'{"cache":"C","keys":["\\ud800"]}',
        j({"cache": "C", "keys": ["k"], "tenant": {"domain": "d", "id": 2 ** 60}}),
    )]
    values = [5, 1.5, None, True, [], {}, ["k"], [None], [1], "k", {"a": 1}]
    valid = {("cache", "k"), ("keys", '["k"]'), ("manager", "null"), ("manager", "k"), ("tenant", "null"),
             ("all", "true")}
    while sum(1 for reason, _ in out if reason == "invalid") < 80:  # a field of the wrong type
        field, value = rng.choice(["cache", "keys", "all", "manager", "tenant", "items"]), rng.choice(values)
        if (field, value if isinstance(value, str) else json.dumps(value)) in valid:
            continue
        body = {"cache": "C", "keys": ["k"]} if field not in ("all", "items") else {"cache": "C"}
        body[field] = value
        out.append(("invalid", j(body)))
    out.append(("oversized", j({"cache": "C", "keys": ["x" * 1_048_600]})))  # over the 1 MiB local limit
    out.append(("oversized", j({"cache": HUGE_NAME, "all": True})))  # parses; cannot be published at all
    out.append(("oversized", j({"tenant": {"domain": HUGE_NAME, "id": 1}, "cache": "C2", "keys": ["k"]})))
    rng.shuffle(out)
    return out


def accepted_bodies(prefix: str, cluster: str, redis_b) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """Strange but valid local messages, the keys of b each must remove, and the keys that must stay."""
    under, over = largest_key(cluster, f"{prefix}Under"), largest_key(cluster, f"{prefix}Over") + 1
    bodies = [
        j({"cache": f"{prefix}C", "keys": [ISSUE_KEY]}),  # the issue's: becomes `all` for its cache
        j({"cache": f"{prefix}Over", "keys": ["k" * over]}),  # one character too many: `all`
        j({"cache": f"{prefix}Under", "keys": ["k" * under]}),  # just fits: published as a key
        j({"cache": f"{prefix}Nul\u0000", "keys": ["k\u0000", "\u00e9\U0001f600", ""]}),
        j({"items": [{"cache": f"{prefix}Many{n}", "keys": ["k"]} for n in range(3000)]}),
        j({"origin": "elsewhere", "cache": f"{prefix}Echo", "keys": ["k"]}),  # a re-broadcast: skipped
    ]
    gone = [f"{prefix}C:entry", f"{prefix}Over:sibling", f"{prefix}Under:" + "k" * under, f"{prefix}Nul\u0000:k\u0000",
            f"{prefix}Nul\u0000:\u00e9\U0001f600", f"{prefix}Nul\u0000:", f"{prefix}Many0:k", f"{prefix}Many2999:k"]
    kept = [f"{prefix}Under:sibling", f"{prefix}Echo:k"]
    redis_b.mset({key: "x" for key in gone + kept})
    return bodies, [k.encode() for k in gone], [k.encode() for k in kept]


def post(port: int, body: bytes) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        if len(body) > 1024 * 1024:  # refused from the header, before the body is read
            conn.putrequest("POST", "/v1/invalidations")
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders()
        else:
            conn.request("POST", "/v1/invalidations", body=body, headers={"Content-Type": "application/json"})
        return conn.getresponse().status
    finally:
        conn.close()


def hostile_keyspace(redis_a, redis_b) -> tuple[dict[str, int], list[bytes]]:
    """Delete keys with hostile names in a's Redis: the reasons each source must count, and b's
    keys that must go (the oversized keys' caches are flushed)."""
    rejected = {"invalid": 0, "oversized": 0}
    doomed: list[bytes] = []
    rng = random.Random(7)
    for n in range(30):  # not UTF-8: no cache key can be made of them
        doomed.append(b"Bin:" + rng.randbytes(rng.randint(0, 30)) + b"\xff" + str(n).encode())
        rejected["invalid"] += 1
    doomed += [b"\xfe\xff:k", b"no-colon-ignored", b":empty-cache-ignored"]
    rejected["invalid"] += 1
    doomed.append(b"H" * 2_000_000 + b":k")  # a 2 MB cache name: not even its `all` fits
    rejected["oversized"] += 1
    doomed += [b"KsBig:" + ISSUE_KEY.encode(), b"KsBig5:" + b"y" * 5_000_000]  # flushed, not lost
    doomed += [b"KsNul:a\x00b", b"KsNew:line\nbreak"]
    doomed += [f"KsMany:{n}".encode() for n in range(2000)]
    must_go = [b"KsBig:sibling", b"KsBig5:sibling", b"KsNul:a\x00b", b"KsNew:line\nbreak", b"KsMany:0",
               b"KsMany:1999"]
    redis_b.mset({key: "x" for key in must_go})
    for start in range(0, len(doomed), 500):
        redis_a.mset({key: "x" for key in doomed[start:start + 500]})
    for start in range(0, len(doomed), 500):
        redis_a.delete(*doomed[start:start + 500])
    return rejected, must_go


def rejected_by_reason(samples: dict[str, float]) -> dict[str, int]:
    return {k.split('"')[1]: int(v) for k, v in samples.items() if k.startswith("cachesync_local_rejected_total{")}


def count(rejections: dict[str, int], reasons) -> None:
    for reason in reasons:
        rejections[reason] = rejections.get(reason, 0) + 1


def test_no_input_at_any_source_stops_the_bridge(tmp_path, amqp_url, topic_name, redis_url, redis_dbs, request):
    redis_a, redis_b = redis_dbs
    clusters = cluster_names(amqp_url, request)
    port = free_port()
    extra_a = f'''
[[sources]]
type = "http"
name = "http"
listen = "127.0.0.1:{port}"

[[sources]]
type = "redis-keyspace"
name = "keyspace"
url = "{redis_url.rstrip('/')}/1"
'''
    config_a, config_b = two_configs(tmp_path, amqp_url, topic_name, redis_url, clusters, extra_a=extra_a)
    channel = f"local.{clusters[0]}"
    rng = random.Random(15)
    expected: dict[str, int] = {}
    started = time.monotonic()
    with BridgeProcess(config_a) as bridge_a, BridgeProcess(config_b) as bridge_b:
        # Redis channel
        hostile = hostile_bodies(rng)
        accepted, gone, kept = accepted_bodies("Ch", clusters[0], redis_b)
        for _, body in hostile:
            redis_a.publish(channel, body)
        for body in accepted:
            redis_a.publish(channel, body)
        count(expected, (reason for reason, _ in hostile))
        # HTTP
        hostile_http = hostile_bodies(rng)
        accepted_http, gone_http, kept_http = accepted_bodies("Http", clusters[0], redis_b)
        statuses = {reason: {post(port, body) for r, body in hostile_http if r == reason}
                    for reason in ("malformed", "invalid", "oversized")}
        # a name too long for any message is refused once the bridge took it: 422 (the answer waits for it)
        assert statuses == {"malformed": {400}, "invalid": {400}, "oversized": {413, 422}}, statuses
        assert {post(port, body) for body in accepted_http} <= {200, 202}  # confirmed by the broker, or spooled
        count(expected, (reason for reason, _ in hostile_http))
        # Redis keyspace
        keyspace_rejected, gone_keyspace = hostile_keyspace(redis_a, redis_b)
        for reason, n in keyspace_rejected.items():
            expected[reason] += n
        # Real invalidations, after all of it, through every source
        real = [f"After:{source}-{n}" for source in ("ch", "http", "ks") for n in range(REAL)]
        redis_b.mset({key: "x" for key in real})
        for n in range(REAL):
            redis_a.publish(channel, j({"cache": "After", "keys": [f"ch-{n}"]}))
            assert post(port, j({"cache": "After", "keys": [f"http-{n}"]})) in (200, 202)  # confirmed, or spooled
            redis_a.set(f"After:ks-{n}", "x")
            redis_a.delete(f"After:ks-{n}")
        wait_gone(redis_b, real, f"b applies the {len(real)} real invalidations sent after the hostile input")
        wait_gone(redis_b, gone + gone_http + gone_keyspace, "b applies the strange but valid ones, oversized "
                  "keys as flushes")
        try:
            wait_until(lambda: rejected_by_reason(metrics(bridge_a)) == expected, timeout=10,
                       message="a counts every rejection under its reason")
        except AssertionError:
            assert rejected_by_reason(metrics(bridge_a)) == expected  # which reason is off
            raise
        samples = metrics(bridge_a)
        rejected = rejected_by_reason(samples)
        assert bridge_a.process.poll() is None and bridge_b.process.poll() is None
        assert redis_b.exists(*kept, *kept_http) == len(kept) + len(kept_http)  # not flushed, not echoed
        log_lines = sum("rejected a local message" in line for line in bridge_a.log)
        oversized_lines = sum("too large for a message" in line for line in bridge_a.log)
    seconds = time.monotonic() - started
    oversized_keys = int(samples["cachesync_local_oversized_keys_total"])
    record("hostile_sources[amqp]", hostile_inputs=len(hostile) + len(hostile_http) + sum(keyspace_rejected.values()),
           rejected_by_reason=rejected, oversized_keys_flushed=oversized_keys, real_sent=len(real),
           real_applied=len(real), rejection_log_lines=log_lines, seconds=round(seconds, 1))
    assert oversized_keys == 2 + 2 + 2  # the issue's key and one character over, by channel and HTTP; 2 keyspace
    # the first of each reason at once, then a summary every 10 s at most
    assert log_lines <= len(expected) * (2 + int(seconds // 10)), log_lines
    assert 1 <= oversized_lines <= 2 + int(seconds // 10)
    assert "more like this (logged at most every 10s)" in bridge_a.text  # the summary, written at the latest on stop


def test_a_spooled_oversized_key_is_published_as_all(tmp_path, amqp_url, topic_name, redis_url, redis_dbs, request):
    """A spool written before this fix (an oversized key queued while the broker was away)
    killed the publishing thread at every start; now it is published as `all`."""
    redis_a, redis_b = redis_dbs
    clusters = cluster_names(amqp_url, request)
    config_a, config_b = two_configs(tmp_path, amqp_url, topic_name, redis_url, clusters)
    spool = Spool(tmp_path / f"spool-{clusters[0]}.sqlite", max_keys=1_000_000)
    spool.append(None, (Item("Spooled", (ISSUE_KEY, "k")), Item("Plain", ("k",))))
    spool.close()
    redis_b.mset({"Spooled:sibling": "x", "Plain:k": "x", "After:k": "x"})
    with BridgeProcess(config_b), BridgeProcess(config_a) as bridge_a:
        wait_until(lambda: redis_b.exists("Spooled:sibling", "Plain:k") == 0, timeout=20,
                   message="the spooled batch applied in b, its oversized key as a flush")
        redis_a.publish(f"local.{clusters[0]}", j({"cache": "After", "keys": ["k"]}))
        wait_until(lambda: not redis_b.exists("After:k"), timeout=20, message="a still publishes")
        assert metric(bridge_a, "cachesync_local_oversized_keys_total") == 1
        bridge_a.wait_for_log("found at publishing")


def test_wso2_codec_oversized_key_becomes_clear_all(tmp_path, amqp_url, topic_name, redis_url, redis_dbs, request):
    """Under the wso2 codec a key travels as base64 of its Java serialization, one message
    each: one that just fits is applied as a key in b, one character more clears the cache."""
    redis_a, redis_b = redis_dbs
    clusters = cluster_names(amqp_url, request)
    codec = '[codec]\nname = "wso2"\n'
    config_a, config_b = two_configs(tmp_path, amqp_url, topic_name, redis_url, clusters, extra_a=codec,
                                     extra_b=codec)
    manager = "IdentityApplicationManagementCacheManager"
    low = largest_key(clusters[0], "Under", codec="wso2", manager=manager)
    under, over = "k" * low, "k" * (low + 1)
    redis_b.mset({f"Under:{under}": "x", "Under:sibling": "x", "Over:sibling": "x", "After:k": "x"})
    with BridgeProcess(config_b), BridgeProcess(config_a) as bridge_a:
        channel = f"local.{clusters[0]}"
        redis_a.publish(channel, j({"manager": manager, "cache": "Under", "keys": [under]}))
        redis_a.publish(channel, j({"manager": manager, "cache": "Over", "keys": [over]}))
        redis_a.publish(channel, j({"manager": manager, "cache": "After", "keys": ["k"]}))
        wait_gone(redis_b, [f"Under:{under}".encode(), b"Over:sibling", b"After:k"], "b applies all three")
        assert redis_b.exists("Under:sibling") == 1  # applied as a key, not a flush
        assert metric(bridge_a, "cachesync_local_oversized_keys_total") == 1
    record("hostile_sources_wso2[amqp]", longest_wso2_key=low, flushed_from=low + 1)


def test_no_entry_of_a_redis_stream_stops_the_bridge(tmp_path, amqp_url, topic_name, redis_url, redis_dbs, request):
    """The durable intake gets the same hostile bodies, and entries of the wrong shape (no
    `m` field, other fields, binary field names): each is rejected under its reason and
    acknowledged (nothing stays pending forever), and what follows is applied in b."""
    redis_a, redis_b = redis_dbs
    clusters = cluster_names(amqp_url, request)
    stream = f"hostile:{clusters[0]}"
    sources = f'\n[[sources]]\ntype = "redis-stream"\nurl = "{redis_url.rstrip("/")}/1"\nstream = "{stream}"\n'
    config_a, config_b = two_configs(tmp_path, amqp_url, topic_name, redis_url, clusters, extra_a=sources)
    rng = random.Random(16)
    hostile = hostile_bodies(rng)
    expected: dict[str, int] = {}
    count(expected, (reason for reason, _ in hostile))
    shapes = [{"x": "1"}, {b"\xff\xfe": b"\x00"}, {"M": j({"cache": "C", "keys": ["k"]})}, {"m2": "y", "n": "z"}]
    count(expected, ["invalid"] * len(shapes))
    accepted, gone, kept = accepted_bodies("Stream", clusters[0], redis_b)
    real = [f"After:st-{n}" for n in range(REAL)]
    redis_b.mset({key: "x" for key in real})
    with BridgeProcess(config_b), BridgeProcess(config_a) as bridge_a:
        for _, body in hostile:
            redis_a.xadd(stream, {"m": body})
        for fields in shapes:
            redis_a.xadd(stream, fields)
        for body in accepted:
            redis_a.xadd(stream, {"m": body})
        for n in range(REAL):
            redis_a.xadd(stream, {"m": j({"cache": "After", "keys": [f"st-{n}"]})})
        wait_gone(redis_b, real + gone, "b applies what follows the hostile entries")
        wait_until(lambda: rejected_by_reason(metrics(bridge_a)) == expected, timeout=10,
                   message=f"a counts every rejection under its reason: {expected}")
        wait_until(lambda: redis_a.xpending(stream, clusters[0])["pending"] == 0, timeout=10,
                   message="every entry acknowledged")
        assert bridge_a.process.poll() is None
        assert redis_b.exists(*kept) == len(kept)
    record("hostile_stream[amqp]", hostile_entries=len(hostile) + len(shapes), rejected_by_reason=expected,
           real_applied=len(real))
