"""The WSO2 body formats a publisher writes: json, legacy, or both (clusters mid-upgrade)."""

from __future__ import annotations

import pytest

from cachesync_cli.errors import UsageError
from cachesync_cli.publisher import Fit, Publisher
from cachesync_cli.wire import Item, Tenant, decode_message
from cachesync_cli.wire.wso2_legacy import CONNECTOR_PATTERN

M = "IdentityApplicationManagementCacheManager"


def publisher(wso2_format: str, reports: list[Fit] | None = None) -> Publisher:
    on_unfit = (lambda fit, tenant: reports.append(fit)) if reports is not None else None
    return Publisher("t", origin="dc-east", codec="wso2", wso2_format=wso2_format, on_unfit=on_unfit)


def test_both_writes_each_key_in_json_then_legacy_and_counts_it_once():
    messages = list(publisher("both").messages([Item("AppInfoCache", ("k1", "k2"), manager=M)]))
    assert [decode_message(m.body, m.headers).wso2.body_format for m in messages] == ["json", "legacy"] * 2
    assert [decode_message(m.body, m.headers).wso2.key for m in messages] == ["k1", "k1", "k2", "k2"]
    assert sum(m.keys for m in messages) == 2


def test_legacy_is_read_by_the_connector_pattern_as_sent():
    [message] = publisher("legacy").messages([Item("AppInfoCache", ("tok-1",), manager=M)],
                                             tenant=Tenant("wso2.com", 3))
    match = CONNECTOR_PATTERN.search(message.body.decode())
    assert (match["tenantId"], match["tenantDomain"], match["cacheManager"], match["cache"], match["cacheKey"]) == \
        ("3", "wso2.com", M, "$__local__$.AppInfoCache", "tok-1")
    assert message.headers == {"sender": "dc-east"}


@pytest.mark.parametrize("key", ["a}b", "line1\nline2", "a\u2028b"])
def test_invalidate_refuses_a_key_the_legacy_text_cannot_carry(key):
    with pytest.raises(UsageError, match="legacy format"):
        list(publisher("legacy").messages([Item("AppInfoCache", (key,), manager=M)]))


def test_under_legacy_the_bridge_sends_a_clear_all_for_such_a_key_and_keeps_the_rest():
    reports: list[Fit] = []
    items = [Item("AppInfoCache", ("ok", "a}b"), manager=M), Item("OtherCache", ("fine",), manager=M)]
    messages = list(publisher("legacy", reports).messages(items))
    decoded = [decode_message(m.body, m.headers).wso2 for m in messages]
    assert {(d.cache, d.clear_all, d.key) for d in decoded} == {("AppInfoCache", True, None),
                                                                ("OtherCache", False, "fine")}
    [fit] = reports
    assert fit.uncarried_keys == 2 and [item.cache for item in fit.flushed] == ["AppInfoCache"]


def test_under_both_the_json_carries_the_key_and_the_legacy_copy_clears_its_cache_once(wso2_vectors):
    shortfalls = []
    both = Publisher("t", origin="dc-east", codec="wso2", wso2_format="both",
                     on_legacy_shortfall=lambda kind, item: shortfalls.append((kind, item.cache)))
    stream = wso2_vectors["oauth-cache-key-object"]["stream"]  # an object key travels as its exact bytes
    items = [Item("AppInfoCache", ("a}b", "x\ny", "ok"), manager=M), Item("OAuthCache", java_keys=(stream,), manager=M)]
    decoded = [decode_message(m.body, m.headers).wso2 for m in both.messages(items)]
    seen = [(d.body_format, d.cache, "ALL" if d.clear_all else d.key_stream or d.key) for d in decoded]
    assert seen == [("json", "AppInfoCache", "a}b"), ("legacy", "AppInfoCache", "ALL"),
                    ("json", "AppInfoCache", "x\ny"),
                    ("json", "AppInfoCache", "ok"), ("legacy", "AppInfoCache", "ok"),
                    ("json", "OAuthCache", stream), ("legacy", "OAuthCache", "ALL")]
    assert shortfalls == [("clear-all", "AppInfoCache"), ("clear-all", "OAuthCache")]
    omitted = []
    both.on_legacy_shortfall = lambda kind, item: omitted.append(kind)
    messages = list(both.messages([Item("C", ("k",), manager="my-manager")]))
    assert [decode_message(m.body, m.headers).wso2.body_format for m in messages] == ["json"]
    assert omitted == ["omitted"]


def test_a_manager_or_domain_the_connector_cannot_read_is_refused():
    reports: list[Fit] = []
    legacy = publisher("legacy", reports)
    assert list(legacy.messages([Item("C", ("k",), manager="my-manager")])) == []
    assert list(legacy.messages([Item("C", ("k",), manager=M)], tenant=Tenant("my-tenant.com", 5))) == []
    assert [reason for fit in reports for _, reason in fit.refused] == ["legacy-format", "legacy-format"]
    assert list(publisher("json").messages([Item("C", ("k",), manager="my-manager")]))  # JSON carries it


def test_an_unknown_format_is_a_usage_error():
    with pytest.raises(UsageError, match="'xml'") as caught:
        publisher("xml")
    assert "json, legacy, both" in caught.value.hint
