"""Turn settings into what the rest of the program uses: connect options, secrets, key ring.

Secrets are read here, at the moment they are needed, from the environment or a file, and
never stored in the `Config` itself (so `config show` cannot leak them).
"""

from __future__ import annotations

import socket
from pathlib import Path

from cachesync_cli.config.loader import Config, warn_if_readable_by_others
from cachesync_cli.errors import ConfigError
from cachesync_cli.transport.base import ConnectOptions, TlsOptions


def read_secret_file(path: str, where: str) -> str:
    """The first line of a secret file, or a ConfigError naming the setting and file."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {path}: {exc.strerror}") from None
    secret = text.splitlines()[0].strip() if text.strip() else ""
    if not secret:
        raise ConfigError(f"{where}: {path} is empty")
    warn_if_readable_by_others(Path(path).expanduser(), f"holds a secret ({where})")
    return secret


def resolve_secret(source: str, where: str, environ) -> str:
    """A secret from "env:NAME" or "file:PATH"."""
    kind, _, ref = source.partition(":")
    if kind == "file":
        return read_secret_file(ref, where)
    value = environ.get(ref)
    if not value:
        raise ConfigError(f"{where}: environment variable {ref} is not set")
    return value


def broker_password(config: Config) -> str | None:
    """The broker password from `password_file`, or from the variable `password_env` names.
    A password source set on purpose that gives nothing is an error naming it: never a
    silent fall back to no password (a broker would then blame the user name)."""
    if config["broker.password_file"]:
        return read_secret_file(config["broker.password_file"], config.where("broker.password_file"))
    name = config["broker.password_env"]
    value = config.environ.get(name)
    if not value and config.source("broker.password_env") != "default":
        raise ConfigError(f"{config.where('broker.password_env')}: environment variable {name} is "
                          f"{'empty' if name in config.environ else 'not set'}",
                          hint=f"export {name}=..., or remove password_env to connect without a password")
    return value or None


def cluster_id(config: Config) -> str:
    """The configured cluster id, or this host's name."""
    return config["cluster.id"] or socket.gethostname().split(".")[0] or "cachesync"


def connect_options(config: Config, *, client_id: str | None = None) -> ConnectOptions:
    return ConnectOptions(
        username=config["broker.username"],
        password=broker_password(config),
        tls=TlsOptions(
            ca_file=config["broker.tls.ca_file"],
            cert_file=config["broker.tls.cert_file"],
            key_file=config["broker.tls.key_file"],
            verify=config["broker.tls.verify"],
        ),
        client_id=client_id,
        exchange=config["broker.exchange"],
        heartbeat=config["broker.heartbeat"],
        connect_timeout=config["broker.connect_timeout"],
    )


def keyring(config: Config):
    """The `Keyring` that signs and verifies with the configured keys; None when signing is off."""
    from cachesync_cli.wire import Keyring

    key_id, keys = signing_keys(config)
    return Keyring(key_id, keys) if keys else None


def signing_keys(config: Config) -> tuple[str | None, dict[str, bytes]]:
    """(id of the key to sign with, every accepted key by id). Empty when signing is off."""
    keys: dict[str, bytes] = {}
    key_id = config["signing.key_id"]
    if key_id:
        if config["signing.key_file"]:
            secret = read_secret_file(config["signing.key_file"], config.where("signing.key_file"))
        else:
            secret = resolve_secret(f"env:{config['signing.key_env']}", config.where("signing.key_id"),
                                    config.environ)
        keys[key_id] = secret.encode("utf-8")
    for old_id, source in config["signing.previous"].items():
        keys[old_id] = resolve_secret(source, f"{config.where('signing.previous')} {old_id!r}",
                                      config.environ).encode("utf-8")
    if config["signing.require"] and not keys:
        raise ConfigError(f"{config.where('signing.require')}: signatures are required but no key is configured",
                          hint="set [signing] key_id and its key (key_env or key_file)")
    return key_id, keys
