"""Flower on the farm's broker, with basic auth from the environment.

The password is handed to Flower through its own environment variable, never on the
command line (where `ps` would show it). Binding beyond loopback without credentials
is refused: Flower can revoke tasks and shut workers down.
"""

from __future__ import annotations

import ipaddress
import os
import sys

from npcfarm.errors import ConfigError
from npcfarm.settings import Settings


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def flower_command(settings: Settings) -> tuple[list[str], dict[str, str]]:
    """The argv and environment to exec Flower with."""
    env = dict(os.environ)
    env["NPCFARM_REDIS_URL"] = settings.resolved_redis_url
    has_auth = settings.flower_user and settings.flower_password
    if has_auth and settings.flower_password is not None:
        env["FLOWER_BASIC_AUTH"] = (
            f"{settings.flower_user}:{settings.flower_password.get_secret_value()}"
        )
    elif not is_loopback(settings.flower_address):
        raise ConfigError(
            f"Flower would listen on {settings.flower_address} without authentication: set "
            "NPCFARM_FLOWER_USER and NPCFARM_FLOWER_PASSWORD, or bind to 127.0.0.1"
        )
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.app",
        "flower",
        f"--address={settings.flower_address}",
        f"--port={settings.flower_port}",
    ]
    return argv, env


def exec_flower(settings: Settings) -> None:
    argv, env = flower_command(settings)
    os.execvpe(argv[0], argv, env)
