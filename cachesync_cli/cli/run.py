"""`cachesync run`: the bridge, in the foreground, until SIGTERM or Ctrl-C; SIGHUP reloads its rules."""


import logging
import signal
import sys
from typing import Annotated, Optional

import typer

from cachesync_cli.cli import completers
from cachesync_cli.cli.bridge_signals import BridgeSignals, has_terminal
from cachesync_cli.cli.options import BrokerOption, ConfigOption, TopicOption
from cachesync_cli.errors import ExitStatus, UsageError
from cachesync_cli.logs import LOG_FORMATS, setup_logging

SWITCH_INTERVAL = 0.0002  # seconds; see sys.setswitchinterval below

EPILOG = """[b]Examples[/b]

  cachesync run --config /etc/cachesync/cachesync.toml
  CACHESYNC_CLUSTER=dc-east cachesync run --broker amqp://mq:5672/ --config bridge.toml

Sources, targets and sync rules come from the config file: see docs/bridge.md.
SIGHUP (systemctl reload) re-reads the \\[sync] allow/block rules and the rule files
(cachesync.d/) without a restart; an invalid file is logged and the rules before stay.
Under systemd (Type=notify) it reports READY=1 once subscribed with its sources listening.

[b]Exit status[/b]: 0 stopped by SIGTERM/SIGINT after flushing its queue; 2 usage or configuration
error, or another bridge with this cluster id already consumes its subscription (AMQP); 3 broker
unreachable at start, or credentials/permissions refused."""


def command(
    cluster: Annotated[Optional[str], typer.Option(metavar="ID", help="This cluster's id (overrides \\[cluster] id).",
                                                   rich_help_panel="Bridge")] = None,
    log_format: Annotated[str, typer.Option("--log-format", metavar="FORMAT",
                                            autocompletion=completers.choices("auto", *LOG_FORMATS),
                                            help="auto (live status on a terminal, text lines otherwise), "
                                                 "text, or json (one object per line).",
                                            rich_help_panel="Bridge")] = "auto",
    config: ConfigOption = None,
    broker: BrokerOption = None,
    topic: TopicOption = None,
) -> None:
    """Run the bridge: publish this cluster's invalidations, apply the other clusters'."""
    from cachesync_cli.bridge.bridge import Bridge
    from cachesync_cli.bridge.sd_notify import SystemdNotifier
    from cachesync_cli.cli import output
    from cachesync_cli.cli.common import load

    if log_format not in ("auto", *LOG_FORMATS):
        raise UsageError(f"--log-format {log_format!r}: must be auto, text or json")
    live = log_format == "auto" and output.stderr().is_terminal
    verbosity = max(1, _verbosity())
    if live:
        from rich.logging import RichHandler

        setup_logging(verbosity, "text", RichHandler(console=output.stderr(), show_path=False))
    else:
        setup_logging(verbosity, "json" if log_format == "json" else "text")
    # loaded once the log format is set: warnings about the file follow it (one JSON object per line)
    cfg = load(config, broker, topic, **{"cluster.id": (cluster, "--cluster")})
    # nohup (SIGHUP ignored at start): the terminal may go; SIGHUP still reloads
    signals = BridgeSignals(hangup_stops=has_terminal() and signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN)
    notifier = SystemdNotifier.from_environ()
    # The bridge's threads hand work to each other at every step; a thread woken to take it
    # waits for the interpreter lock up to the switch interval (5 ms by default) when another
    # holds it. 0.2 ms: --rate 1000 p50 about 0.2 ms lower, a few % more CPU (performance.md).
    sys.setswitchinterval(SWITCH_INTERVAL)
    bridge = Bridge(cfg)
    try:
        _start(bridge, signals)
        _say_what_it_does(cfg)
        notifier.ready(_running(bridge))
        if live:
            _live(bridge, signals, notifier)
        else:
            _serve(bridge, signals, notifier)
    finally:
        notifier.stopping()
        logging.getLogger("cachesync.bridge").info("stopping: flushing the outgoing queue")
        bridge.stop()
    raise typer.Exit(ExitStatus.OK)


def _start(bridge, signals: BridgeSignals) -> None:
    """Start the bridge; a stop asked for meanwhile ends the start instead of waiting for it:
    a broker that cannot be reached is retried for up to 30 s, and a service manager's SIGTERM
    must not wait for that. Stopped so, the bridge exits 0 (the caller's `finally` stops it)."""
    from cachesync_cli.errors import TransportError

    signals.on_stop = bridge.connection.close  # ends the connect loop at its next look
    if signals.stop.is_set():  # asked before on_stop was there to hear it
        bridge.connection.close()
    try:
        bridge.start()
    except TransportError as exc:
        if not signals.stop.is_set():
            raise
        logging.getLogger("cachesync.bridge").warning("stopped while connecting (%s)", exc)
        raise typer.Exit(ExitStatus.OK) from None
    finally:
        signals.on_stop = None
    if signals.stop.is_set():
        logging.getLogger("cachesync.bridge").info("asked to stop while starting")


def _say_what_it_does(cfg) -> None:
    """A bridge with no [[sources]] and no [[targets]] runs and changes nothing: a warning.
    One with only one of them is a one-way bridge: said at INFO."""
    from cachesync_cli.config.bridge_work import BridgeWork

    work = BridgeWork.of(cfg)
    log = logging.getLogger("cachesync.bridge")
    if work.nothing:
        log.warning("%s; fix: %s", work.describe(), work.fix())
    elif not work.sources or not work.targets:
        log.info("this bridge %s", work.describe())


def _serve(bridge, signals: BridgeSignals, notifier) -> None:
    """Until asked to stop: reload on SIGHUP, ping the watchdog, stop when the bridge fails."""
    while not signals.stop.is_set():
        if signals.take_reload():
            notifier.reloading()
            rejected = bridge.reload("SIGHUP")
            notifier.ready(_running(bridge) + (f"; rejected at reload: {', '.join(rejected)}" if rejected else ""))
        _check(bridge)
        notifier.watchdog_if_due()
        signals.wait(0.5)


def _running(bridge) -> str:
    return (f"bridge {bridge.cluster} running on {bridge.connection.endpoint}: {len(bridge.sources)} source(s), "
            f"{len(bridge.targets)} target(s)")


def _check(bridge) -> None:
    if bridge.failure is not None:
        raise bridge.failure


def _live(bridge, signals: BridgeSignals, notifier) -> None:
    from rich.live import Live

    from cachesync_cli.cli import output
    from cachesync_cli.cli.live_status import LiveStatus

    with Live(LiveStatus(bridge), console=output.stderr(), refresh_per_second=1, transient=False):
        _serve(bridge, signals, notifier)


def _verbosity() -> int:
    """The -v count given to the root command (run logs at info level at least)."""
    level = logging.getLogger().level
    return 2 if level <= logging.DEBUG else 1 if level <= logging.INFO else 0
