"""Publisher.fit and the bridge's lenient `messages`: a key too large for any message becomes
`all` for its cache, a name too large even for that is refused, and nothing raises or goes
out over the size limit (issue 15: one oversized local key stopped a bridge's publishing)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachesync_cli.errors import UsageError
from cachesync_cli.publisher import Fit, Publisher
from cachesync_cli.wire import Item, Keyring, Tenant, decode_envelope, decode_wso2

KEYRING = Keyring("k1", {"k1": b"secret"})
ISSUE_KEY = "x" * 1_048_400  # under the 1 MiB local-message limit, over an envelope's room
M = "IdentityApplicationManagementCacheManager"


def lenient(codec: str = "native", **options) -> tuple[Publisher, list[Fit]]:
    reports: list[Fit] = []
    publisher = Publisher("t", origin="dc-east", codec=codec, keyring=KEYRING if codec == "native" else None,
                          on_unfit=lambda fit, tenant: reports.append(fit), **options)
    return publisher, reports


def largest_key(publisher: Publisher, cache: str, manager: str | None = None) -> int:
    """The longest ASCII key of `cache` that `fit` keeps, found by bisection."""
    low, high = 0, publisher.max_bytes
    while low < high:
        middle = (low + high + 1) // 2
        if publisher.fit([Item(cache, ("k" * middle,), manager=manager)]).changed:
            high = middle - 1
        else:
            low = middle
    return low


def test_the_issue_key_becomes_all_for_its_cache_and_the_other_items_stay():
    publisher, reports = lenient()
    items = (Item("Small", ("a", "b")), Item("C", ("k1", ISSUE_KEY, "k2")), Item("Other", all=True))
    fit = publisher.fit(items)
    assert fit.items == (Item("Small", ("a", "b")), Item("C", all=True), Item("Other", all=True))
    assert fit.flushed == (Item("C", all=True),) and fit.oversized_keys == 1 and not fit.refused
    messages = list(publisher.messages(items))
    assert [decode_envelope(m.body).items for m in messages] == [fit.items]
    assert reports == [fit]


def test_a_key_fits_up_to_the_last_byte_and_one_more_character_makes_it_all():
    for codec in ("native", "wso2"):
        publisher, _ = lenient(codec, max_bytes=4096)
        cache = "C"
        manager = M if codec == "wso2" else None
        limit = largest_key(publisher, cache, manager)
        exact = Item(cache, ("k" * limit,), manager=manager)
        [message] = publisher.messages([exact])
        assert len(message.body) <= 4096
        assert publisher.fit([exact]).items == (exact,)
        over = Item(cache, ("k" * (limit + 1),), manager=manager)
        assert publisher.fit([over]).items == (Item(cache, all=True, manager=manager),)
        strict = Publisher("t", origin="dc-east", codec=codec, max_bytes=4096,
                           keyring=KEYRING if codec == "native" else None)
        with pytest.raises(UsageError, match="does not fit"):  # `invalidate` still says so
            list(strict.messages([over]))
        assert len(list(strict.messages([exact]))) == 1


def test_names_too_large_even_for_all_are_refused_and_the_rest_published():
    publisher, reports = lenient()
    huge = "N" * 1_048_300
    items = (Item(huge, ("k",)), Item("Fine", ("k",)), Item("M", ("k",), manager=huge))
    fit = publisher.fit(items)
    assert fit.items == (Item("Fine", ("k",)),)
    assert [(item.cache[:1], reason) for item, reason in fit.refused] == [("N", "oversized"), ("M", "oversized")]
    assert [decode_envelope(m.body).items for m in publisher.messages(items)] == [(Item("Fine", ("k",)),)]
    tenant = Tenant("t" * 1_048_300, 7)  # no envelope of this tenant fits, whatever its items
    fit = publisher.fit(items, tenant)
    assert fit.items == () and len(fit.refused) == 3
    assert list(publisher.messages(items, tenant=tenant)) == []


def test_wso2_oversized_key_becomes_clear_all_and_an_item_without_manager_is_refused():
    publisher, reports = lenient("wso2")
    items = (Item("AppInfoCache", ("app-1", "y" * 800_000), manager=M),  # base64: over 1 MiB
             Item("NoManager", ("k",)))
    messages = list(publisher.messages(items))
    decoded = [decode_wso2(m.body, m.headers) for m in messages]
    assert [(d.cache, d.clear_all) for d in decoded] == [("AppInfoCache", True)]
    assert all(len(m.body) <= publisher.max_bytes for m in messages)
    [fit] = reports
    assert fit.oversized_keys == 1 and [reason for _, reason in fit.refused] == ["no-manager"]


def test_ordinary_items_are_passed_through_unchanged():
    publisher, _ = lenient()
    items = tuple(Item(f"C{n}", tuple(f"k{m}" for m in range(50))) for n in range(100))
    fit = publisher.fit(items)
    assert fit.items == items and not fit.changed


_text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=3) | st.builds(
    lambda c, n: c * n, st.characters(codec="utf-8"), st.integers(1, 1500))
_items = st.lists(st.builds(Item, cache=_text, keys=st.lists(_text, min_size=1, max_size=5).map(tuple),
                            manager=st.none() | _text), min_size=1, max_size=4)


@settings(max_examples=150, deadline=None)
@given(items=_items, tenant=st.none() | st.builds(Tenant, _text, st.integers(-5, 5)),
       codec=st.sampled_from(["native", "wso2"]))
def test_lenient_messages_never_raise_never_exceed_the_limit_and_lose_no_cache(items, tenant, codec):
    publisher, reports = lenient(codec, max_bytes=2048)
    messages = list(publisher.messages(items, tenant=tenant))
    assert all(len(m.body) <= 2048 for m in messages)
    published: set[tuple[str, str | None]] = set()
    for message in messages:
        if codec == "native":
            published |= {(i.cache, i.manager) for i in decode_envelope(message.body).items}
        else:
            decoded = decode_wso2(message.body, message.headers)
            published.add((decoded.cache, decoded.manager))
    refused = {(item.cache, item.manager) for fit in reports for item, _ in fit.refused}
    assert {(i.cache, i.manager) for i in items} - refused <= published
