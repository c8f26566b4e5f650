"""The protocol and operations pages say what the code enforces (generated, in sync)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from npcfarm.domain import Decision
from npcfarm.events import MAX_EVENT_ID, DeadCode, DeadLetter
from npcfarm.settings import Settings
from ops.bridge.ingest import DEAD_MAXLEN, TRIM_EVERY_S
from ops.docs import pages, protocol

ROOT = Path(__file__).resolve().parents[1]


def test_bridge_page_and_schemas_match_the_models() -> None:
    """Fails when docs/BRIDGE.md or docs/schemas/ drift: run `npcfarm docs`."""
    stale = [p for p in pages.stale(ROOT) if p.name != "OPERATIONS.md"]
    assert stale == [], f"stale: {[str(p.relative_to(ROOT)) for p in stale]}; run `npcfarm docs`"


def test_operations_settings_table_matches_the_settings_object() -> None:
    """Fails when the settings table of docs/OPERATIONS.md drifts: run `npcfarm docs`."""
    assert ROOT / "docs" / "OPERATIONS.md" not in pages.stale(ROOT)
    text = (ROOT / "docs" / "OPERATIONS.md").read_text()
    for name in Settings.model_fields:
        assert f"`NPCFARM_{name.upper()}`" in text


def test_schema_files_are_the_wire_format() -> None:
    decision = json.loads((ROOT / "docs/schemas/decision.schema.json").read_text())
    assert "schema" in decision["properties"] and "schema_" not in decision["properties"]
    assert decision == protocol.schema_of("decision")
    assert Decision.model_json_schema(by_alias=True)["required"] == decision["required"]
    event = json.loads((ROOT / "docs/schemas/event.interaction.schema.json").read_text())
    assert event["properties"]["event_id"]["maxLength"] == MAX_EVENT_ID


def test_every_stated_limit_comes_from_the_code() -> None:
    table = dict((what, limit) for what, limit, _ in protocol.limits())
    assert table["`event_id`"].startswith(f"1–{MAX_EVENT_ID} ")
    assert table["inbox trimming"].startswith(f"every {TRIM_EVERY_S:g} s")
    assert table["dead letters kept"] == f"about {DEAD_MAXLEN:,}"


def test_dead_letters_fit_their_schema() -> None:
    letter = DeadLetter.of("1-0", DeadCode.NOT_JSON, "x" * 1000, "y" * 10_000)
    assert len(letter.reason) == 300 and len(letter.raw) == 4096


def test_a_page_without_a_place_for_a_block_is_refused(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    bridge = tmp_path / "docs" / "BRIDGE.md"
    text = bridge.read_text()
    start = text.index("<!-- BEGIN generated:limits")
    end = text.index("<!-- END generated:limits -->") + len("<!-- END generated:limits -->")
    bridge.write_text(text[:start] + text[end:])
    with pytest.raises(pages.StaleDocs, match="limits"):
        pages.stale(tmp_path)


def test_an_edited_block_is_stale_and_rewritten(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    bridge = tmp_path / "docs" / "BRIDGE.md"
    bridge.write_text(bridge.read_text().replace("1–60 characters", "1–64 characters"))
    (tmp_path / "docs" / "schemas" / "gone.schema.json").write_text("{}")
    assert set(pages.stale(tmp_path)) == {bridge, tmp_path / "docs/schemas/gone.schema.json"}
    pages.write(tmp_path)
    assert pages.stale(tmp_path) == []
    assert not (tmp_path / "docs/schemas/gone.schema.json").exists()
