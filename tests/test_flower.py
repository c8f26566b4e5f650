"""Flower really starts on the farm's broker and enforces basic auth."""

from __future__ import annotations

import base64
import subprocess
import urllib.error
import urllib.request

import pytest
from pydantic import SecretStr

from npcfarm.settings import Settings
from ops.servers.flower import flower_command
from tests.conftest import _free_port, wait_for

pytestmark = pytest.mark.slow


def _status(url: str, auth: str | None = None) -> int:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0


def test_flower_serves_with_basic_auth(settings: Settings) -> None:
    port = _free_port()
    secured = settings.model_copy(
        update={"flower_port": port, "flower_user": "ops", "flower_password": SecretStr("pw")}
    )
    argv, env = flower_command(secured)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/api/workers"
        wait_for(lambda: _status(url) != 0, timeout=30, what="Flower to listen")
        assert _status(url) == 401
        assert _status(url, "ops:wrong") == 401
        assert _status(url, "ops:pw") == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
