"""A file per cache entry under a directory: delete the files of invalidated keys.

A key's file is `path` / `template`, rendered in three steps (applications writing the
files must use the same mapping; `entry_path` is the reference):

1. each value (cache, key, tenant, manager) is percent-encoded with
   `urllib.parse.quote(value, safe="")`: "/" becomes %2F, so a key cannot add a level;
2. a path component that is exactly "." or ".." becomes "%2E" / "%2E%2E";
3. a path component longer than 255 bytes (the usual NAME_MAX) is replaced by "#" and
   the SHA-256 hex digest of the encoded component ("#" never appears in encoded text).

So no key can escape the directory (a last lexical check refuses anything that would).
Deleting a missing file is fine: `apply` is idempotent. `all` empties the cache's folder:
everything (files and subfolders) under the rendered part of the template before {key}
whose name starts with the rendered text after the last "/" of that part (with
"{cache}/{key}": every entry in `path`/<cache>/, the folder itself stays). Hashed long
names are found this way only when that text is empty. An empty key has no file and
is skipped. A gap flush (reason "gap-flush") names caches by glob pattern ("*": every
cache) and matches any tenant or manager it does not name. Skipped too: an item whose template needs a {tenant} or {manager} the invalidation
lacks (with a warning). Any other OS error (permissions, read-only) is a TargetError.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import logging
import os
import shutil
from pathlib import Path
from urllib.parse import quote

from cachesync_cli.errors import ConfigError
from cachesync_cli.local.base import Invalidation, Target, TargetError
from cachesync_cli.local.key_template import KeyTemplate, MissingValue, is_flush_pattern, split_flush_pattern

log = logging.getLogger("cachesync.local")

NAME_MAX = 255


def encode_value(value: str) -> str:
    return quote(value, safe="")


def encode_pattern(value: str) -> str:
    """A glob pattern's value encoded like `encode_value`, its * and ? kept as wildcards."""
    return "".join(c if c in "*?" else quote(c, safe="") for c in value)


def safe_component(component: str) -> str:
    if component in (".", ".."):
        return component.replace(".", "%2E")
    if len(component.encode("utf-8")) > NAME_MAX:
        return "#" + hashlib.sha256(component.encode("utf-8")).hexdigest()
    return component


def safe_relative(rendered: str) -> str:
    return "/".join(safe_component(c) for c in rendered.split("/"))


class DirectoryTarget(Target):
    type = "directory"

    def __init__(self, name, options, context) -> None:
        super().__init__(name, options, context)
        self.root = Path(options["path"]).expanduser()
        self.template = KeyTemplate(options["template"])
        literal = "".join(part.literal for part in self.template.parts)
        if self.template.template.startswith("/") or ".." in literal.split("/"):
            raise ConfigError(f"{self.describe()}: template {self.template.template!r} must stay inside path "
                              "(no leading / and no .. components)")

    def entry_path(self, cache: str, key: str, tenant: str | None = None, manager: str | None = None) -> Path:
        """The file of `key` in `cache` (raises MissingValue, TargetError for an escaping path)."""
        relative = safe_relative(self.template.render(cache, key, tenant, manager, encode=encode_value))
        return self._inside(relative)

    def _inside(self, relative: str) -> Path:
        root = os.path.normpath(os.path.abspath(self.root))
        full = os.path.normpath(os.path.join(root, relative))
        if os.path.commonpath([root, full]) != root or full == root:
            raise TargetError(f"{self.describe()}: refusing path {relative!r} outside {root}")
        return Path(full)

    def apply(self, invalidation: Invalidation) -> None:
        tenant = invalidation.tenant.domain if invalidation.tenant else None
        for item in invalidation.items:
            try:
                if is_flush_pattern(invalidation, item):
                    cache, manager = split_flush_pattern(item.cache)
                    self._empty_matching(cache, tenant or "*", manager or item.manager or "*")
                    continue
                if item.all:
                    self._empty(item.cache, tenant, item.manager)
                    continue
                for key in item.keys:
                    if key:
                        self._remove_file(self.entry_path(item.cache, key, tenant, item.manager))
            except MissingValue as exc:
                log.warning("%s: skipping %r: %s", self.describe(), item.cache, exc)

    def _remove_file(self, path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            self._remove_tree(path)
        except OSError as exc:
            raise TargetError(f"{self.describe()}: cannot delete {path}: {exc.strerror or exc}") from None

    def _remove_tree(self, path: Path) -> None:
        try:
            shutil.rmtree(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise TargetError(f"{self.describe()}: cannot delete {path}: {exc.strerror or exc}") from None

    def _empty(self, cache: str, tenant: str | None, manager: str | None) -> None:
        prefix = self.template.prefix(cache, tenant, manager, encode=encode_value)
        folder_part, _, name_prefix = prefix.rpartition("/")
        folder = self._inside(safe_relative(folder_part)) if folder_part else self.root
        self._empty_folder(folder, lambda name: name.startswith(name_prefix))

    def _empty_matching(self, cache: str, tenant: str, manager: str) -> None:
        """A gap flush: the values are glob patterns ("*": any cache, tenant, manager)."""
        for folder, wanted in self.matching_folders(cache, tenant, manager):
            self._empty_folder(folder, wanted)

    def matching_folders(self, cache: str, tenant: str = "*", manager: str = "*"):
        """[(folder, wanted(name) -> bool)]: where the entries of the caches matching the glob
        patterns are, and which names in each folder belong to them (also used by cleanup)."""
        prefix = self.template.prefix(cache, tenant, manager, encode=encode_pattern)
        folder_part, _, name_prefix = prefix.rpartition("/")
        folders = [self.root]
        if folder_part:
            relative = safe_relative(folder_part)
            self._inside(relative)  # lexically inside: the pattern has no .. components
            root = os.path.normpath(os.path.abspath(self.root))
            folders = [Path(root, match) for match in sorted(glob.glob(relative, root_dir=root))
                       if os.path.isdir(os.path.join(root, match))]
        return [(folder, lambda name: fnmatch.fnmatchcase(name, name_prefix + "*")) for folder in folders]

    def _empty_folder(self, folder, wanted) -> None:
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise TargetError(f"{self.describe()}: cannot list {folder}: {exc.strerror or exc}") from None
        for entry in entries:
            if not wanted(entry.name):
                continue
            if entry.is_dir(follow_symlinks=False):
                self._remove_tree(Path(entry.path))
            else:
                self._remove_file(Path(entry.path))

    def check(self) -> None:
        if not self.root.is_dir():
            raise TargetError(f"{self.describe()}: {self.root} is not a directory")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise TargetError(f"{self.describe()}: {self.root} is not writable")
