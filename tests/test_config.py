"""Settings, tick configuration and the embedded Redis: clear errors, safe reloads."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from npcfarm import audit
from npcfarm.domain import Tier
from npcfarm.errors import ConfigError
from npcfarm.keys import Keys
from npcfarm.settings import Settings, get_settings
from ops.servers.embedded_redis import EmbeddedRedis
from schedules.config import parse_ticks
from schedules.scheduler import Scheduler, publish_ticks_config
from tests.helpers import FAST_TICKS, write_fast_ticks


def test_settings_from_environment_and_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "npcfarm.toml"
    conf.write_text("stream_maxlen = 5000\nflower_port = 6000\n")
    monkeypatch.setenv("NPCFARM_CONFIG", str(conf))
    monkeypatch.setenv("NPCFARM_FLOWER_PORT", "7000")  # the environment wins
    settings = Settings()
    assert settings.stream_maxlen == 5000 and settings.flower_port == 7000


def test_secrets_are_refused_in_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "npcfarm.toml"
    conf.write_text('flower_password = "hunter2"\n')
    monkeypatch.setenv("NPCFARM_CONFIG", str(conf))
    with pytest.raises(ConfigError, match="only come from the environment"):
        Settings()


@pytest.mark.parametrize("url", ["http://nope", "unix:///tmp/redis.sock"])
def test_bad_settings_are_config_errors(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("NPCFARM_REDIS_URL", url)
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match="redis_url"):
            get_settings()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (("[tiers.bronze]", "[tiers.copper]"), "copper"),
        (("batch_size = 16", "batch_size = 0"), "tiers.gold.batch_size"),
        (("jitter_s = 0.05", "jitter_s = 9"), "jitter_s must be smaller"),
        (("backlog_limit = 0", "backlog_limit = 5"), "gold is never shed"),
        (('brain = "rules"', 'brain = "oracle"'), "brain"),
        (("interval_s = 0.5", "interval_s = "), "not valid TOML"),
    ],
)
def test_bad_tick_config_is_a_clear_error(change: tuple[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_ticks(FAST_TICKS.replace(*change, 1))


def test_scheduler_keeps_its_config_when_the_file_turns_bad(
    client: redis.Redis, keys: Keys, settings: Settings, tmp_path: Path
) -> None:
    path = write_fast_ticks(tmp_path)
    sched = Scheduler(client, keys, settings, publish=lambda b: None, ticks_path=path)
    sched.reload_file()
    good_version = sched.version
    path.write_text("[tiers.gold\n")
    sched.config_job()  # logs the error, keeps running on the old config
    assert sched.version == good_version
    path.write_text(FAST_TICKS.replace("interval_s = 0.5", "interval_s = 0.75"))
    sched.config_job()
    assert sched.config[Tier.GOLD].interval_s == 0.75
    # Another scheduler adopts what was published through Redis.
    other = Scheduler(client, keys, settings, publish=lambda b: None, ticks_path=path)
    other.config, other.version = parse_ticks(FAST_TICKS), "old"
    other.config_job()
    assert other.version == sched.version
    reloads = [e for e in audit.recent(client, keys) if e.what == "ticks.reload"]
    assert len(reloads) == 1 and reloads[0].args["by"] == "scheduler (file)"  # changes only


def test_a_restarted_scheduler_keeps_the_reloaded_config(
    client: redis.Redis, keys: Keys, settings: Settings, tmp_path: Path
) -> None:
    packaged = Scheduler(client, keys, settings, publish=lambda b: None)
    packaged.adopt_active()  # first start: publishes the packaged file
    operator_file = write_fast_ticks(tmp_path)
    version = publish_ticks_config(client, keys, operator_file.read_text(), source="operator")
    restarted = Scheduler(client, keys, settings, publish=lambda b: None)
    restarted.adopt_active()
    assert restarted.version == version
    assert restarted.config[Tier.GOLD].interval_s == 0.5


def test_embedded_redis_persists_across_restarts(tmp_path: Path) -> None:
    with socket_port() as port:
        server = EmbeddedRedis(data_dir=tmp_path, port=port)
        with server, redis.Redis(port=port) as before:
            before.set("kept", "yes")
        assert not server.already_running()
        with server, redis.Redis(port=port) as after:
            assert after.get("kept") == b"yes"


class socket_port:  # noqa: N801 - reads like a function at the call site
    def __enter__(self) -> int:
        from tests.conftest import _free_port  # noqa: PLC0415

        return _free_port()

    def __exit__(self, *exc: object) -> None:
        time.sleep(0)
