"""Directory and memcached cleanup against real directories and a real memcached."""

from __future__ import annotations

import os
import time

import pytest

from cachesync_cli.cleanup.locks import FileLock

from .conftest import cleaner


def tree(root, files: dict[str, str], age: float = 0.0) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if age:
            when = time.time() - age
            os.utime(path, (when, when))


def listing(root) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_all_empties_the_named_caches_folders_and_keeps_them(tmp_path, context):
    tree(tmp_path, {"App/a": "12345", "App/b": "1", "App/sub/c": "12", "Other/a": "x", "AppX/a": "y"})
    result = cleaner(context, type="directory", path=str(tmp_path), caches=["App"]).run()
    assert (result.status, result.scanned, result.removed, result.bytes_freed) == ("ok", 3, 3, 8)
    assert listing(tmp_path) == {"App", "Other", "Other/a", "AppX", "AppX/a"}


def test_all_without_caches_empties_the_whole_directory(tmp_path, context):
    tree(tmp_path, {"App/a": "12345", "Other/b/c": "1", "top": "12"})
    os.symlink("/etc/hostname", tmp_path / "link")
    result = cleaner(context, type="directory", path=str(tmp_path)).run()
    assert (result.removed, result.bytes_freed) == (4, 8)  # the link is removed, its target never read
    assert listing(tmp_path) == set() and os.path.exists("/etc/hostname")


def test_max_age_removes_old_files_and_counts_bytes(tmp_path, context):
    tree(tmp_path, {"App/old1": "aaaa", "App/deep/old2": "bb", "Other/old3": "c"}, age=3 * 86400)
    tree(tmp_path, {"App/new": "fresh", "Other/new": "fresh"})
    result = cleaner(context, type="directory", path=str(tmp_path), policy="max_age", max_age="2d",
                     caches=["App", "Other"]).run()
    assert (result.scanned, result.removed, result.bytes_freed) == (5, 3, 7)
    assert listing(tmp_path) == {"App", "App/new", "Other", "Other/new"}  # App/deep left empty: removed


def test_dry_run_lists_and_removes_nothing(tmp_path, context):
    tree(tmp_path, {"App/a": "1", "App/b": "2"}, age=100)
    seen = []
    result = cleaner(context, type="directory", path=str(tmp_path), policy="max_age", max_age=50).run(
        dry_run=True, listing=seen.append)
    assert result.removed == 2 and result.bytes_freed == 2 and len(seen) == 2
    assert listing(tmp_path) == {"App", "App/a", "App/b"}


def test_templates_decide_the_folders(tmp_path, context):
    tree(tmp_path, {"t1/App-a.json": "1", "t2/App-b.json": "2", "t1/Other-a.json": "3"})
    result = cleaner(context, type="directory", path=str(tmp_path), template="{tenant}/{cache}-{key}.json",
                     caches=["App"]).run()
    assert result.removed == 2 and listing(tmp_path) == {"t1", "t2", "t1/Other-a.json"}


def test_a_held_lock_skips_the_run(tmp_path, context):
    tree(tmp_path, {"App/a": "1"})
    with FileLock(os.path.realpath(tmp_path), "directory"):
        result = cleaner(context, type="directory", path=str(tmp_path)).run()
    assert result.status == "locked" and not result.failed and "another run holds the lock" in result.errors[0]
    assert listing(tmp_path) == {"App", "App/a"}


def test_a_missing_directory_fails(tmp_path, context):
    result = cleaner(context, type="directory", path=str(tmp_path / "missing")).run()
    assert result.failed and "is not a directory" in result.errors[0]


@pytest.fixture
def memcached(private_memcached):
    from pymemcache.client.base import Client

    host, _, port = private_memcached.rpartition(":")
    client = Client((host, int(port)), default_noreply=False)  # sets done before the cleanup looks
    yield client
    client.close()


def test_memcached_flush_all_and_dry_run(memcached, private_memcached, context):
    memcached.set_many({"cleanup-test-a": b"1" * 100, "cleanup-test-b": b"2"})
    dry = cleaner(context, type="memcached", servers=[private_memcached]).run(dry_run=True)
    assert dry.status == "ok" and dry.removed >= 2 and memcached.get("cleanup-test-a") is not None
    result = cleaner(context, type="memcached", servers=[private_memcached]).run()
    assert result.status == "ok" and result.scanned >= 2 and result.bytes_freed > 100
    assert memcached.get("cleanup-test-a") is None and memcached.get("cleanup-test-b") is None


def test_memcached_a_failing_server_does_not_stop_the_others(memcached, private_memcached, context):
    memcached.set("cleanup-test-c", b"1")
    result = cleaner(context, type="memcached", servers=["127.0.0.1:1", private_memcached]).run()
    assert result.failed and len(result.errors) == 1 and "127.0.0.1:1" in result.errors[0]
    assert memcached.get("cleanup-test-c") is None
