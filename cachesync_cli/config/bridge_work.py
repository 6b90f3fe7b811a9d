"""What a bridge configured this way does: publish this cluster's invalidations (its
`[[sources]]`), apply the other clusters' (its `[[targets]]`), both, or nothing at all.

`doctor` and `run` say it in the same words: a bridge with neither is a warning (it runs,
connects, heartbeats and changes nothing); one with only sources or only targets is a
legitimate one-way bridge, explained at INFO level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ADD_ENTRIES = ("add a [[sources]] entry (where this cluster's applications announce invalidations) and a "
               "[[targets]] entry (the cache to clear) to {where}; docs/local.md lists every kind, and "
               "`cachesync config init --source redis-stream --target redis OTHER.toml` writes an example")


@dataclass(frozen=True)
class BridgeWork:
    sources: int
    targets: int
    where: str  # the config file, or how the configuration was given

    @classmethod
    def of(cls, cfg: Any) -> BridgeWork:
        where = str(cfg.path) if cfg.path else "the config file (there is none: flags and environment only)"
        return cls(len(cfg["sources"]), len(cfg["targets"]), where)

    @property
    def nothing(self) -> bool:
        return not self.sources and not self.targets

    def describe(self) -> str:
        if self.nothing:
            return (f"this bridge has nothing to do: no [[sources]] and no [[targets]] in {self.where}; it "
                    f"publishes none of this cluster's invalidations and applies none of the other clusters'")
        if not self.sources:
            return (f"applies the other clusters' invalidations ({self.targets} target(s)) but publishes none of "
                    f"this cluster's: no [[sources]] (fine when this cluster's applications change nothing "
                    f"cached, or publish with `cachesync invalidate`)")
        if not self.targets:
            return (f"publishes this cluster's invalidations ({self.sources} source(s)) but applies none here: "
                    f"no [[targets]] (fine when this cluster keeps no cache of the others' data; what arrives "
                    f"is acknowledged and dropped)")
        return (f"publishes this cluster's invalidations ({self.sources} source(s)) and applies the other "
                f"clusters' ({self.targets} target(s))")

    def fix(self) -> str:
        return ADD_ENTRIES.format(where=self.where)
