"""The commented starter file written by `cachesync config init`, generated from the schema."""

from __future__ import annotations

import textwrap

from cachesync_cli.config.schema import SECTION_HELP, SECTIONS, SETTINGS

# Settings written active (uncommented) in the starter file, with the value to write.
ACTIVE = {
    "cluster.id": '"{cluster}"',
    "broker.url": '"{broker}"',
    "broker.topic": '"cachesync"',
}


def starter_config(*, cluster: str = "dc-east", broker: str = "amqp://localhost:5672/") -> str:
    lines = [
        "# cachesync configuration. Reference: docs/configuration.md",
        "# Precedence: command-line flag > environment variable > this file > default.",
        "# Secrets (passwords, signing keys) come from the environment or files, never from here.",
        "",
    ]
    for section in SECTIONS:
        lines.append(f"[{section}]")
        if section in SECTION_HELP:
            lines.append(f"# {SECTION_HELP[section]}")
        for setting in (s for s in SETTINGS if s.section == section):
            for chunk in textwrap.wrap(setting.help, 92):
                lines.append(f"# {chunk}")
            if setting.env:
                lines.append(f"# Environment: {setting.env}")
            if setting.key in ACTIVE:
                value = ACTIVE[setting.key].format(cluster=cluster, broker=broker)
                lines.append(f"{setting.name} = {value}")
            else:
                lines.append(f"# {setting.name} = {setting.example}")
        lines.append("")
    return "\n".join(lines)
