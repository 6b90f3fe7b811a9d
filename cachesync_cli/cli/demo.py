"""`cachesync demo`: the seed scenario, live, in seconds, with no set-up."""


import json
from typing import Annotated, Optional

import typer

from cachesync_cli.cli import formats, output
from cachesync_cli.errors import ExitStatus

DEMO_PANEL = "Demo"
FORMATS = ("text", "json")
FormatOption, JsonOption = formats.format_options(
    FORMATS, "text (the timeline as it happens, default) or json (one object at the end).", panel=DEMO_PANEL)

EPILOG = """[b]Examples[/b]

  cachesync demo                                          (in-process broker, nothing to set up)
  cachesync demo --format json | jq '.steps[] | [.id, .took_ms]'
  cachesync demo --broker amqp://guest:guest@localhost:5672/
  cachesync demo --broker stomp://localhost:61613         (ActiveMQ or RabbitMQ's STOMP plugin)

Two clusters, A and B, each run a real bridge (an HTTP source, a directory of files as the
local cache). B revokes a token, A's copy disappears; then one of B's messages is lost and A
flushes its cache. The screen shows the timeline; the bridges' own log lines go to a file,
named at the end. --json is an alias of --format json. See docs/commands/demo.md.

[b]Exit status[/b]: 0 every step happened; 1 a step did not (the timeline says which);
2 usage error; 3 the broker given with --broker is unreachable or refuses the login."""


def command(
    broker: Annotated[Optional[str], typer.Option("--broker", "-b", metavar="URL", show_default=False,
                                                  help="Run on this broker instead of the in-process one "
                                                       "(a unique topic and subscriptions; AMQP queues "
                                                       "are deleted afterwards).",
                                                  rich_help_panel=DEMO_PANEL)] = None,
    timeout: Annotated[float, typer.Option(metavar="SECONDS", help="Longest wait for any one step.",
                                           rich_help_panel=DEMO_PANEL)] = 10.0,
    fmt: FormatOption = None,
    as_json: JsonOption = False,
) -> None:
    """Watch an invalidation cross two clusters, then a lost message turn into a cache flush."""
    import tempfile
    from pathlib import Path

    from cachesync_cli.demo.scenario import Scenario
    from cachesync_cli.demo.timeline import HEADER, step_line
    from cachesync_cli.logs import logging_to_file

    as_json = formats.choose(fmt, FORMATS, alias=("--json", as_json, "json")) == "json"
    console = output.stdout()
    if not as_json:
        from cachesync_cli.transport.endpoint import redact_url

        where = redact_url(broker) if broker else "the in-process broker"
        output.info(f"cachesync demo: two clusters, A and B, one bridge each, on {where}")
        console.print(HEADER)
    scenario = Scenario(broker, timeout=timeout,
                        on_step=(lambda step: None) if as_json else (lambda step: console.print(step_line(step))))
    # The timeline is the screen: the bridges' own log lines (the gap and the flushes, at
    # ERROR) go to a file, named at the end, instead of cutting through it.
    log_file = Path(tempfile.gettempdir()) / f"cachesync-demo-{scenario.run_id}.log"
    try:
        with logging_to_file(log_file):
            timeline = scenario.run()
    except BaseException:  # e.g. the broker is unreachable, or Ctrl-C: the log says what the bridges tried
        if log_file.is_file() and log_file.stat().st_size:
            output.info(f"the bridges' log: {log_file}")
        else:
            log_file.unlink(missing_ok=True)
        raise
    if as_json:
        output.write_line(json.dumps(timeline.to_json(broker=scenario.broker, topic=scenario.topic,
                                                      clusters=list(scenario.clusters),
                                                      left_on_broker=scenario.left_on_broker,
                                                      log_file=str(log_file))))
    elif scenario.left_on_broker:
        output.info(f"left on the broker (unique to this run, safe to delete): the durable subscriptions of "
                    f"{', '.join(scenario.left_on_broker)} on {scenario.topic}")
    if not timeline.ok:
        failed = ", ".join(f"{step.id} ({step.detail})" for step in timeline.failed()) or "nothing happened"
        output.info(f"demo failed: {failed}")
        output.info(f"the bridges' log: {log_file}")
        raise typer.Exit(ExitStatus.FAILURE)
    if not as_json:
        output.info("every step happened: applied where it could be, flushed where it could not")
        output.info(f"the bridges' log, with the gap and the flushes they reported at ERROR: {log_file}")
