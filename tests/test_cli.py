"""The admin CLI, in-process against the real Redis (and a real worker where one is needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from npcfarm import audit
from npcfarm.domain import Tier
from npcfarm.errors import ConfigError, InvalidInput, UnknownNPC
from npcfarm.keys import Keys
from npcfarm.settings import Settings
from ops.cli.main import app
from ops.servers.flower import flower_command
from tests.conftest import WorkerFactory
from tests.helpers import FAST_TICKS

runner = CliRunner()

YAML_NPCS = """
npcs:
  - id: vlad
    name: Vlad
    archetype: vampire
    world: castle
    tier: gold
    personality: {openness: 0.7, neuroticism: 0.2}
    state: {health: 0.9, nearby_players: [{id: p1, distance: 4.0}]}
  - id: mort
    name: Mort
    archetype: zombie
    world: castle
"""
CSV_NPCS = """id,name,archetype,world,tier,openness,extraversion,x,y,health,hunger
g1,Gul,ghoul,marsh,silver,0.2,0.1,10,20,0.5,0.9
l1,Lira,lich,marsh,bronze,0.9,0.3,-5,7.5,1.0,0.0
"""


def test_import_yaml_and_csv_then_show(client: redis.Redis, keys: Keys, tmp_path: Path) -> None:
    (tmp_path / "npcs.yaml").write_text(YAML_NPCS)
    (tmp_path / "npcs.csv").write_text(CSV_NPCS)
    assert runner.invoke(app, ["npc", "import", str(tmp_path / "npcs.yaml")]).exit_code == 0
    assert runner.invoke(app, ["npc", "import", str(tmp_path / "npcs.csv")]).exit_code == 0
    assert client.scard(keys.npcs) == 4
    assert client.zscore(keys.due(Tier.GOLD), "vlad") is not None
    assert client.zscore(keys.due(Tier.SILVER), "g1") is not None
    shown = runner.invoke(app, ["npc", "show", "g1"])
    assert shown.exit_code == 0 and '"archetype": "ghoul"' in shown.output
    assert '"hunger": 0.9' in shown.output
    assert '"tier": "silver"' in shown.output.split("live state:")[1]
    assert [e.what for e in audit.recent(client, keys)] == ["npc.import", "npc.import"]


def test_invalid_import_names_the_record_and_saves_nothing(
    client: redis.Redis, keys: Keys, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(CSV_NPCS + "x1,X,werewolf,marsh,platinum,0.5,0.5,0,0,1,0\n")
    result = runner.invoke(app, ["npc", "import", str(bad)])
    assert isinstance(result.exception, InvalidInput)
    assert "line 4" in result.output and "tier" in result.output
    assert client.scard(keys.npcs) == 0
    assert runner.invoke(app, ["npc", "import", str(bad), "--skip-invalid"]).exit_code == 0
    assert client.scard(keys.npcs) == 2


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("a.yaml", "npcs: [1, 2", "not valid YAML"),
        ("a.yaml", "just: a mapping", "expected a list"),
        ("a.txt", "id\n", "unknown file type"),
        ("a.yaml", "- {id: 'no spaces!', name: X, archetype: human}", "id"),
        ("a.yaml", "- {id: z, name: Z, archetype: human, position: {x: .nan}}", "finite"),
        ("a.yaml", "- {id: z, name: Z, archetype: dragon}", "unknown archetype 'dragon'"),
    ],
)
def test_bad_import_files(
    client: redis.Redis, tmp_path: Path, name: str, content: str, needle: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    result = runner.invoke(app, ["npc", "import", str(path)])
    assert isinstance(result.exception, InvalidInput)
    assert needle in str(result.exception) + result.output


def test_show_unknown_npc(client: redis.Redis) -> None:
    assert isinstance(runner.invoke(app, ["npc", "show", "nobody"]).exception, UnknownNPC)


def test_world_demo_status_and_ticks(client: redis.Redis, keys: Keys, tmp_path: Path) -> None:
    assert runner.invoke(app, ["world", "demo", "--npcs", "300", "--worlds", "2"]).exit_code == 0
    assert client.scard(keys.npcs) == 300 and client.scard(keys.worlds) == 2
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0
    tiers = {t["tier"]: t for t in json.loads(result.output)["tiers"]}
    assert sum(t["npcs"] for t in tiers.values()) == 300
    assert tiers["bronze"]["npcs"] > tiers["gold"]["npcs"]
    good = tmp_path / "ticks.toml"
    good.write_text(FAST_TICKS)
    assert runner.invoke(app, ["ticks", "reload", "--file", str(good)]).exit_code == 0
    shown = runner.invoke(app, ["ticks", "show"])
    assert "active version" in shown.output and "interval_s = 0.5" in shown.output
    bad = tmp_path / "bad.toml"
    bad.write_text(FAST_TICKS.replace("interval_s = 0.5", "interval_s = -1"))
    result = runner.invoke(app, ["ticks", "reload", "--file", str(bad)])
    assert isinstance(result.exception, ConfigError)
    assert "tiers.gold.interval_s" in str(result.exception)
    assert [e.what for e in audit.recent(client, keys)] == ["ticks.reload", "world.demo"]


def test_enqueue_waits_for_the_decision(
    client: redis.Redis, keys: Keys, tmp_path: Path, start_worker: WorkerFactory
) -> None:
    (tmp_path / "npcs.yaml").write_text(YAML_NPCS)
    runner.invoke(app, ["npc", "import", str(tmp_path / "npcs.yaml")])
    start_worker(pool="solo")
    result = runner.invoke(app, ["enqueue", "--npc", "vlad", "--tick-id", "t-1", "--wait", "20"])
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output[result.output.index("{") :])
    assert decision["tick_id"] == "t-1" and decision["npc_id"] == "vlad"
    assert decision["source"] == "rules" and decision["seq"] >= 1
    assert audit.recent(client, keys)[0].args["tick_id"] == "t-1"


def test_enqueue_unknown_npc_is_refused(client: redis.Redis) -> None:
    result = runner.invoke(app, ["enqueue", "--npc", "ghost"])
    assert isinstance(result.exception, UnknownNPC)
    assert client.llen("gold") == 0


def test_flower_requires_auth_off_loopback(settings: Settings) -> None:
    argv, env = flower_command(settings)
    assert "--address=127.0.0.1" in argv and "FLOWER_BASIC_AUTH" not in env
    public = settings.model_copy(update={"flower_address": "0.0.0.0"})
    with pytest.raises(ConfigError, match="without authentication"):
        flower_command(public)
    secured = Settings(flower_address="0.0.0.0", flower_user="ops", flower_password="s3cret")
    argv, env = flower_command(secured)
    assert env["FLOWER_BASIC_AUTH"] == "ops:s3cret"
    assert not any("s3cret" in part for part in argv)
