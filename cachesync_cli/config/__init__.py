"""Configuration: `cachesync.toml`, environment overrides, command-line flags."""

from cachesync_cli.config.loader import Config, find_config_file, load_config, load_for_command, user_config_path

__all__ = ["Config", "find_config_file", "load_config", "load_for_command", "user_config_path"]
