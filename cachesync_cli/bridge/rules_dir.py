"""Runtime configuration: a drop-in folder of rule files, reloaded without a restart.

Adapted from WSO2 Identity Server's dynamic user-store deployer. Every `*.toml` file in the
folder (`[sync] rules_dir`, default `cachesync.d/` beside the config file) is read in file
name order. A file may hold:

    enabled = false                 # optional: the file is ignored while false
    [sync]
    allow = ["OAuthCache"]          # added to the configured allow list
    block = ["*/LocalOnly*"]        # added to the configured block list
    [[targets]]                     # extra targets, same fields as in cachesync.toml
    type = "webhook"
    urls = ["http://app-3:8080/invalidate"]

A tenant's file carries `[tenant] domain = "wso2.com"` and must be named after the domain
(`wso2_com.toml`); its allow/block lists apply to that tenant's items only. A file renamed
to `*.disabled` is ignored. The folder is polled every second; a change takes effect within
a few seconds. SIGHUP (`systemctl reload`) re-reads cachesync.toml's `[sync]` allow/block
and every rule file at once, changed or not (`reload_now`). A file that fails to parse or
validate is rejected with its reason logged, and the last good version of that file stays
in force. What changed in the effective rules is logged. Broker, cluster and other settings
are static: a rule file that sets them is rejected, with a hint to edit cachesync.toml and
restart.
"""

from __future__ import annotations

import logging
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cachesync_cli.bridge.rules import CacheRules, SyncRules
from cachesync_cli.entries.fields import boolean, nonempty_text, text_list
from cachesync_cli.errors import ConfigError

log = logging.getLogger("cachesync.bridge.rules")

POLL_SECONDS = 1.0
TOP_LEVEL = {"enabled", "sync", "targets", "tenant"}
STATIC = {"cluster", "broker", "codec", "signing", "monitor", "sources"}


def tenant_file_name(domain: str) -> str:
    """`wso2.com` -> `wso2_com.toml`."""
    return domain.replace(".", "_") + ".toml"


@dataclass(frozen=True)
class RuleFile:
    name: str
    enabled: bool
    allow: tuple[str, ...]
    block: tuple[str, ...]
    targets: tuple[dict[str, Any], ...]
    tenant: str | None = None


def read_rule_file(path: Path) -> RuleFile:
    """Parse and validate one rule file, or raise ConfigError saying what is wrong."""
    from cachesync_cli.entries import validate_entry

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    static = sorted(set(data) & STATIC)
    if static:
        raise ConfigError(f"{path}: [{static[0]}] cannot change at run time",
                          hint="edit cachesync.toml and restart the bridge")
    unknown = sorted(set(data) - TOP_LEVEL)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}", hint="allowed: enabled, [sync], [[targets]], [tenant]")
    sync = data.get("sync", {})
    if not isinstance(sync, dict) or set(sync) - {"allow", "block"}:
        raise ConfigError(f"{path}: [sync] may hold only allow and block here")
    try:
        enabled = boolean(data.get("enabled", True))
        allow = tuple(text_list(sync.get("allow", [])))
        block = tuple(text_list(sync.get("block", [])))
        tenant = data.get("tenant")
        domain = None
        if tenant is not None:
            if not isinstance(tenant, dict) or set(tenant) != {"domain"}:
                raise ValueError("[tenant] holds exactly one key, domain")
            domain = nonempty_text(tenant["domain"])
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if domain is not None and path.name != tenant_file_name(domain):
        raise ConfigError(f"{path}: a file for tenant {domain!r} must be named {tenant_file_name(domain)}")
    entries = data.get("targets", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: targets must be an array of tables: write [[targets]]")
    if domain is not None and entries:
        raise ConfigError(f"{path}: a tenant file holds rules only; put [[targets]] in another file")
    targets = tuple(validate_entry("targets", i, entry, str(path)) for i, entry in enumerate(entries))
    return RuleFile(path.name, enabled, allow, block, targets, domain)


def describe_changes(old: SyncRules, new: SyncRules, old_targets: list[dict[str, Any]],
                     new_targets: list[dict[str, Any]]) -> list[str]:
    """What differs between two effective rule sets, one short phrase per kind of rule."""
    changes = []
    for label, before, after in (("allow", old.allow, new.allow), ("block", old.block, new.block)):
        diff = [f"+{p}" for p in after if p not in before] + [f"-{p}" for p in before if p not in after]
        if diff:
            changes.append(f"{label} {' '.join(diff)}")
    for domain in sorted(set(old.tenants) | set(new.tenants)):
        if old.tenants.get(domain) != new.tenants.get(domain):
            what = "added" if domain not in old.tenants else "removed" if domain not in new.tenants else "changed"
            changes.append(f"tenant {domain} rules {what}")
    before, after = {t["name"]: t for t in old_targets}, {t["name"]: t for t in new_targets}
    diff = ([f"+{n}" for n in after if n not in before] + [f"-{n}" for n in before if n not in after]
            + [f"~{n}" for n in after if n in before and after[n] != before[n]])
    if diff:
        changes.append(f"targets {' '.join(diff)}")
    return changes


def combine(base: CacheRules, files: list[RuleFile]) -> tuple[SyncRules, list[dict[str, Any]]]:
    """The effective rules and the extra target entries of the enabled files, in name order."""
    allow, block = list(base.allow), list(base.block)
    tenants: dict[str, CacheRules] = {}
    targets: list[dict[str, Any]] = []
    for rule_file in sorted(files, key=lambda f: f.name):
        if not rule_file.enabled:
            continue
        if rule_file.tenant is not None:
            tenants[rule_file.tenant] = CacheRules(rule_file.allow, rule_file.block)
            continue
        allow += rule_file.allow
        block += rule_file.block
        for entry in rule_file.targets:
            targets.append(dict(entry, name=f"{rule_file.name}:{entry['name']}"))
    return SyncRules(tuple(allow), tuple(block), tenants), targets


class RulesReloader:
    """Polls the folder; calls `apply(rules, target_entries)` whenever the result changes."""

    def __init__(self, directory: Path | None, base: CacheRules,
                 apply: Callable[[SyncRules, list[dict[str, Any]]], None],
                 on_outcome: Callable[[str], None] = lambda outcome: None,
                 main_config: Path | None = None,
                 reload_main: Callable[[], CacheRules | None] = lambda: None) -> None:
        self.directory = directory
        self.base = base
        self.apply = apply
        self.on_outcome = on_outcome
        self.main_config = main_config
        self.reload_main = reload_main  # re-reads cachesync.toml: its live [sync] rules, or None
        self._main_stat = _stat(main_config)
        self._snapshot: dict[str, tuple[int, int]] = {}
        self._good: dict[str, RuleFile] = {}  # file name -> its last good version
        self._applied: tuple[SyncRules, list[dict[str, Any]]] = (SyncRules(base.allow, base.block), [])
        self._lock = threading.Lock()  # the polling thread and a SIGHUP's reload_now
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="cachesync-rules")

    def load_once(self, *, force: bool = False) -> list[str]:
        """Read the folder now (also used at start, before the bridge takes traffic): the
        files changed since the last look. The names of the files rejected."""
        with self._lock:
            return self._load(force=force, reread=False)

    def reload_now(self, why: str = "SIGHUP") -> list[str]:
        """Re-read cachesync.toml and every rule file now, changed or not, and log one line
        saying what changed and what was rejected. The names of the files rejected (their
        last good version, or the rules before, stay in force)."""
        with self._lock:
            before = self._applied
            rejected = self._load(force=True, reread=True)
            changes = describe_changes(before[0], self._applied[0], before[1], self._applied[1])
        log.warning("reloaded the rules (%s): %s%s", why, "; ".join(changes) or "no change",
                    f"; rejected, the previous rules stay: {', '.join(rejected)}" if rejected else "")
        return rejected

    def _load(self, *, force: bool, reread: bool) -> list[str]:
        rejected = []
        main_stat = _stat(self.main_config)
        main_changed = main_stat != self._main_stat or (reread and self.main_config is not None)
        if main_changed:
            self._main_stat = main_stat
            base = self.reload_main()
            if base is not None:
                self.base = base
            elif self.main_config is not None:
                rejected.append(str(self.main_config))
        snapshot = self._scan()
        if snapshot == self._snapshot and not (force or main_changed):
            return rejected
        changed = set(snapshot) if reread else {n for n in snapshot if snapshot[n] != self._snapshot.get(n)}
        removed = set(self._snapshot) - set(snapshot)
        self._snapshot = snapshot
        for name in removed:
            if self._good.pop(name, None) is not None:
                log.warning("rule file %s removed: its rules no longer apply", name)
        for name in sorted(changed):
            try:
                rule_file = read_rule_file(self.directory / name)
            except ConfigError as exc:
                kept = "its last good version stays" if name in self._good else "it is ignored"
                log.error("rule file rejected: %s%s; %s", exc.message, f" ({exc.hint})" if exc.hint else "", kept)
                self.on_outcome("rejected")
                rejected.append(name)
                continue
            if self._good.get(name) == rule_file:
                continue  # re-read (SIGHUP), unchanged
            self._good[name] = rule_file
            self.on_outcome("ok")
            log.warning("rule file %s %s", name, "loaded" if rule_file.enabled else "loaded (disabled)")
        rules, targets = combine(self.base, list(self._good.values()))
        changes = describe_changes(self._applied[0], rules, self._applied[1], targets)
        self.apply(rules, targets)
        self._applied = (rules, targets)
        if changes and not reread:
            log.warning("rules now: %s", "; ".join(changes))
        return rejected

    def _scan(self) -> dict[str, tuple[int, int]]:
        if self.directory is None:
            return {}
        try:
            files = [p for p in self.directory.iterdir() if p.suffix == ".toml" and p.is_file()]
        except OSError:
            return {}
        snapshot = {}
        for path in files:
            try:
                stat = path.stat()
            except OSError:
                continue
            snapshot[path.name] = (stat.st_mtime_ns, stat.st_size)
        return snapshot

    def start(self) -> None:
        self._thread.start()
        if self.directory is not None:
            log.info("watching %s for rule files", self.directory)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self.load_once()
            except Exception:  # never let a reload bug stop the bridge; the last rules stay
                log.exception("reloading rule files failed; the last good rules stay")


def _stat(path: Path | None) -> tuple[int, int] | None:
    try:
        stat = path.stat() if path is not None else None
    except OSError:
        return None
    return None if stat is None else (stat.st_mtime_ns, stat.st_size)
