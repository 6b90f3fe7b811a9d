"""DirectoryTarget on real directories: deletes, hostile keys, long names, all, idempotence."""

from __future__ import annotations

import os

import pytest

from cachesync_cli.errors import ConfigError
from cachesync_cli.local.base import Invalidation, TargetError
from cachesync_cli.local.directory_target import DirectoryTarget
from cachesync_cli.wire.envelope import Item, Tenant

from .conftest import entry

HOSTILE = ("../../etc/passwd", "a/b", "..", ".", "ünïcødé ✓", "k" * 300, "é" * 200, "%2e%2e", "#x", "a\nb")


def target(context, path, **fields):
    return DirectoryTarget("dir", entry("targets", type="directory", path=str(path), **fields), context)


def put(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("v")


def all_files(root) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files}


def test_deletes_the_key_files_and_nothing_else(context, tmp_path):
    root = tmp_path / "cache"
    directory = target(context, root)
    for cache, key in (("App", "a"), ("App", "b"), ("Other", "a")):
        put(directory.entry_path(cache, key))
    invalidation = Invalidation("dc-west", (Item("App", ("a", "missing")),))
    directory.apply(invalidation)
    directory.apply(invalidation)
    assert all_files(root) == {"App/b", "Other/a"}
    directory.check()


def test_hostile_and_long_keys_stay_inside_the_directory(context, tmp_path):
    root = tmp_path / "cache"
    outside = tmp_path / "etc" / "passwd"
    put(outside)
    directory = target(context, root)
    paths = {key: directory.entry_path("App", key) for key in HOSTILE}
    assert len(set(paths.values())) == len(HOSTILE)  # no two keys share a file
    for key, path in paths.items():
        assert path.parent == root / "App", key
        assert len(path.name.encode()) <= 255
        put(path)
    assert paths["a/b"].name == "a%2Fb" and paths[".."].name == "%2E%2E"
    assert paths["k" * 300].name.startswith("#") and len(paths["k" * 300].name) == 65
    put(directory.entry_path("App", "kept"))
    directory.apply(Invalidation("dc-west", (Item("App", HOSTILE),)))
    assert all_files(root) == {"App/kept"}
    assert outside.exists()


def test_dot_dot_as_cache_name_cannot_escape(context, tmp_path):
    root = tmp_path / "cache"
    directory = target(context, root)
    assert directory.entry_path("..", "x") == root / "%2E%2E" / "x"
    put(tmp_path / "x")
    directory.apply(Invalidation("dc-west", (Item("..", all=True), Item("..", ("x",)))))
    assert (tmp_path / "x").exists()


def test_all_empties_the_cache_folder(context, tmp_path):
    root = tmp_path / "cache"
    directory = target(context, root)
    for key in ("a", "b", "k" * 300):
        put(directory.entry_path("App", key))
    put(root / "App" / "sub" / "deep")
    put(directory.entry_path("Other", "a"))
    directory.apply(Invalidation("dc-west", (Item("App", all=True),)))
    directory.apply(Invalidation("dc-west", (Item("App", all=True), Item("Never", all=True))))
    assert all_files(root) == {"Other/a"}
    assert (root / "App").is_dir()


def test_all_with_a_name_prefix_template(context, tmp_path):
    directory = target(context, tmp_path, template="{tenant}/{cache}-{key}.json")
    for cache in ("App", "AppX", "Other"):
        put(directory.entry_path(cache, "k", "t.com"))
    directory.apply(Invalidation("dc-west", (Item("App", all=True),), tenant=Tenant("t.com")))
    assert all_files(tmp_path) == {"t.com/AppX-k.json", "t.com/Other-k.json"}
    directory.apply(Invalidation("dc-west", (Item("AppX", ("k",)),)))  # no tenant: skipped
    assert all_files(tmp_path) == {"t.com/AppX-k.json", "t.com/Other-k.json"}


def test_bad_templates_and_directories(context, tmp_path):
    with pytest.raises(ConfigError):
        target(context, tmp_path, template="../{cache}/{key}")
    with pytest.raises(ConfigError):
        target(context, tmp_path, template="/abs/{key}")
    with pytest.raises(TargetError, match="not a directory"):
        target(context, tmp_path / "missing").check()
    target(context, tmp_path / "missing").apply(Invalidation("dc-west", (Item("App", ("k",)), Item("B", all=True))))


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_directory_is_a_target_error(context, tmp_path):
    directory = target(context, tmp_path)
    put(directory.entry_path("App", "k"))
    (tmp_path / "App").chmod(0o500)
    try:
        with pytest.raises(TargetError, match="cannot delete"):
            directory.apply(Invalidation("dc-west", (Item("App", ("k",)),)))
    finally:
        (tmp_path / "App").chmod(0o700)


def test_a_file_where_the_cache_folder_should_be_is_a_target_error(context, tmp_path):
    (tmp_path / "App").write_text("not a folder")
    directory = target(context, tmp_path)
    with pytest.raises(TargetError, match="cannot delete"):
        directory.apply(Invalidation("dc-west", (Item("App", ("k",)),)))
    with pytest.raises(TargetError, match="cannot list"):
        directory.apply(Invalidation("dc-west", (Item("App", all=True),)))


def test_gap_flush_patterns(context, tmp_path):
    directory = target(context, tmp_path, template="{tenant}/{cache}/{key}")
    for tenant, cache in (("t1.com", "OAuthCache"), ("t2.com", "OAuthScope"), ("t1.com", "App"), ("t2.com", "a*b")):
        put(directory.entry_path(cache, "k", tenant))
    directory.apply(Invalidation("x", (Item("OAuth*", all=True),), reason="gap-flush"))
    assert all_files(tmp_path) == {"t1.com/App/k", "t2.com/a%2Ab/k"}
    directory.apply(Invalidation("x", (Item("*", all=True),), reason="gap-flush"))
    assert all_files(tmp_path) == set()
