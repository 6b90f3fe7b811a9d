"""Cleanup of a cache directory: `all` empties the caches' folders (the whole directory when
no caches are named; the folders themselves stay), `max_age` removes files whose mtime is
older than max_age, and then the folders below the caches' folders that are empty.

Which folders and names belong to a cache is the directory target's mapping
(`DirectoryTarget.matching_folders`). Symbolic links are removed, never followed. Bytes
freed are the removed files' sizes. The stop flag is checked before each file. The lock is
a file lock in the state directory, named after the directory's real path.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

from cachesync_cli.cleanup.base import Cleaner, CleanupError, ListFn, RunResult
from cachesync_cli.cleanup.locks import FileLock
from cachesync_cli.local.directory_target import DirectoryTarget
from cachesync_cli.local.key_template import split_flush_pattern


class _Stopped(Exception):
    pass


class DirectoryCleaner(Cleaner):
    type = "directory"

    def __init__(self, name, options, context) -> None:
        super().__init__(name, options, context)
        self.mapping = DirectoryTarget(name, {"path": options["path"], "template": options["template"]}, context)
        self.root = self.mapping.root
        self.max_age = options.get("max_age")

    def describe(self) -> str:
        return f"directory cleanup {self.name!r} ({self.root})"

    def _lock(self):
        return FileLock(os.path.realpath(self.root), "directory")

    def folders(self):
        """[(folder, wanted(name))] holding the entries to consider."""
        if not self.caches:
            return [(self.root, lambda name: True)]
        out = []
        for pattern in self.caches:
            cache, manager = split_flush_pattern(pattern)
            out += self.mapping.matching_folders(cache, "*", manager or "*")
        return out

    def _clean(self, result: RunResult, stop: threading.Event, dry_run: bool, listing: ListFn | None) -> None:
        if not self.root.is_dir():
            raise CleanupError(f"{self.describe()}: {self.root} is not a directory")
        result.bytes_freed = 0
        cutoff = time.time() - self.max_age if self.policy == "max_age" else None
        seen: set[str] = set()
        try:
            for folder, wanted in self.folders():
                try:
                    entries = sorted(os.scandir(folder), key=lambda e: e.name)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    result.errors.append(f"{self.describe()}: cannot list {folder}: {exc.strerror or exc}")
                    continue
                for entry in entries:
                    if wanted(entry.name) and entry.path not in seen:
                        seen.add(entry.path)
                        self._entry(Path(entry.path), cutoff, result, stop, dry_run, listing)
        except _Stopped:
            result.status = "stopped"

    def _entry(self, path: Path, cutoff, result, stop, dry_run, listing) -> None:
        if path.is_dir() and not path.is_symlink():
            for folder, subfolders, files in os.walk(path, topdown=False):
                for name in sorted(files) + [d for d in subfolders if os.path.islink(os.path.join(folder, d))]:
                    self._file(Path(folder, name), cutoff, result, stop, dry_run, listing)
                if not dry_run:
                    try:
                        os.rmdir(folder)  # succeeds only when empty: what max_age left is kept
                    except OSError:
                        pass
        else:
            self._file(path, cutoff, result, stop, dry_run, listing)

    def _file(self, path: Path, cutoff, result, stop, dry_run, listing) -> None:
        if stop.is_set():
            raise _Stopped
        try:
            info = path.lstat()
        except FileNotFoundError:
            return
        except OSError as exc:
            result.errors.append(f"{self.describe()}: cannot read {path}: {exc.strerror or exc}")
            return
        result.scanned += 1
        if cutoff is not None and info.st_mtime >= cutoff:
            return
        if listing:
            listing(str(path))
        if not dry_run:
            try:
                path.unlink()
            except FileNotFoundError:
                return
            except OSError as exc:
                result.errors.append(f"{self.describe()}: cannot delete {path}: {exc.strerror or exc}")
                return
        result.removed += 1
        result.bytes_freed += info.st_size if stat.S_ISREG(info.st_mode) else 0
