"""Checks of this cluster's own side: the `[[targets]]` and `[[sources]]` of the config.

Each entry is built through the registry and asked `check()`: Redis or memcached answers,
a webhook's URLs answer, a directory is writable. One line per entry in the details.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from cachesync_cli.doctor.context import DoctorContext
from cachesync_cli.doctor.model import Detail, Outcome, Status, fail, not_applicable, ok, warn


def _none_configured(ctx: DoctorContext, array: str) -> Outcome:
    """No entry in `array`: a warning on `targets` when the bridge has nothing to do at all (with
    a config file: without one, doctor checks a broker, not a bridge), else what that means."""
    from cachesync_cli.config.bridge_work import BridgeWork

    work = BridgeWork.of(ctx.cfg)
    if ctx.cfg.path is None:
        return not_applicable(f"no [[{array}]]: no config file, so doctor checks the broker only")
    if work.nothing:
        if array == "targets":
            return warn(work.describe(), work.fix())
        return not_applicable("no [[sources]] (see targets)")
    return not_applicable(f"no [[{array}]]: this bridge {work.describe()}")


def _check_entries(ctx: DoctorContext, array: str, build: Callable, error_type: type) -> Outcome:
    from cachesync_cli.local.base import EchoGuard, LocalContext

    entries = ctx.cfg[array]
    if not entries:
        return _none_configured(ctx, array)
    local = LocalContext(cluster=ctx.cluster(), echo_guard=EchoGuard(), environ=os.environ)
    details = []
    for entry in entries:
        label = f"{entry['type']} {entry['name']!r}"
        try:
            thing = build(entry, local)
        except Exception as error:  # ConfigError (missing driver), or a bad option
            details.append(Detail(label, Status.FAIL, f"cannot set up: {getattr(error, 'message', error)}"))
            continue
        try:
            thing.check()
            details.append(Detail(label, Status.OK, "reachable"))
        except error_type as error:
            details.append(Detail(label, Status.FAIL, error.message + (f" ({error.hint})" if error.hint else "")))
        except Exception as error:  # a driver error the entry did not translate
            details.append(Detail(label, Status.FAIL, f"{type(error).__name__}: {error}"))
        finally:
            close = getattr(thing, "close", None) or getattr(thing, "stop", None)
            if array == "targets" and close is not None:
                try:
                    close()
                except Exception:
                    pass
    bad = [d for d in details if d.status is Status.FAIL]
    if not bad:
        return ok(f"{len(details)} of {len(details)} reachable", details=tuple(details))
    return fail(f"{len(bad)} of {len(details)} not reachable: " + "; ".join(f"{d.name}: {d.message}" for d in bad),
                f"start the service or fix its address in [[{array}]]; until then, invalidations from "
                f"other clusters are not applied there" if array == "targets"
                else f"start the service or fix its address in [[{array}]]; until then this cluster's "
                     f"invalidations are not published",
                details=tuple(details), blocking=False)


def check_targets(ctx: DoctorContext) -> Outcome:
    from cachesync_cli.local.base import TargetError
    from cachesync_cli.entries import build_target

    return _check_entries(ctx, "targets", build_target, TargetError)


def check_sources(ctx: DoctorContext) -> Outcome:
    from cachesync_cli.local.base import SourceError
    from cachesync_cli.entries import build_source

    return _check_entries(ctx, "sources", build_source, SourceError)
