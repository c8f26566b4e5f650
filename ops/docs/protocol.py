"""The bridge protocol's documents and limits, as the code enforces them.

Each schema comes from the pydantic model the farm validates or writes with; each limit
from the named constant or setting default the code reads. `npcfarm docs` writes the
schemas to docs/schemas/ and the tables below into docs/BRIDGE.md.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from models.profiles import get_profile, profile_names
from npcfarm.domain import MAX_BATCH, MAX_NEARBY, MAX_SPEECH_CHARS, NPC, Decision, GameDecision
from npcfarm.events import (
    DEAD_CODE_MEANINGS,
    MAX_EVENT_BYTES,
    MAX_EVENT_DEPTH,
    MAX_EVENT_ID,
    MAX_FLAGS,
    MAX_PLAYER_TEXT,
    MAX_REASON_CHARS,
    DeadLetter,
    DecideNowEvent,
    InteractionEvent,
    NpcRegisterEvent,
    NpcRemoveEvent,
    NpcStateEvent,
    OutcomeEvent,
    PlayerLeftEvent,
    PlayerPositionEvent,
    QuestFlagEvent,
    Receipt,
    WorldProfileEvent,
)
from npcfarm.results import PUBLISH_CHUNK
from npcfarm.settings import Settings
from ops.bridge.ingest import (
    APPLIED_TTL_S,
    CLAIM_IDLE_MS,
    DEAD_MAXLEN,
    READ_COUNT,
    RECEIPTS_MAXLEN,
    TRIM_EVERY_S,
)
from ops.docs.profiles import profile_actions, profile_state
from ops.docs.tables import Schema, field_table, nested
from schedules.tier_manager import PLAYER_TTL_S

# name of the schema file (docs/schemas/{name}.schema.json) -> the model behind it
DOCUMENTS: dict[str, type[BaseModel]] = {
    "decision": Decision,
    "decision.v2": GameDecision,
    "event.npc_state": NpcStateEvent,
    "event.player_position": PlayerPositionEvent,
    "event.player_left": PlayerLeftEvent,
    "event.interaction": InteractionEvent,
    "event.quest_flag": QuestFlagEvent,
    "event.npc_register": NpcRegisterEvent,
    "event.npc_remove": NpcRemoveEvent,
    "event.decide_now": DecideNowEvent,
    "event.world_profile": WorldProfileEvent,
    "event.outcome": OutcomeEvent,
    "dead_letter": DeadLetter,
    "receipt": Receipt,
    "npc": NPC,
}
COMMON_EVENT_FIELDS = ("type", "event_id", "ts", "traceparent")  # tabled once, in §6.1


def schema_of(name: str) -> Schema:
    """The JSON Schema of one document, as it appears on the wire."""
    schema = DOCUMENTS[name].model_json_schema(by_alias=True, mode="serialization")
    schema["$id"] = f"https://npcfarm.invalid/schemas/{name}.schema.json"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def _settings_default(name: str) -> Any:
    return Settings.model_fields[name].default


def limits() -> list[tuple[str, str, str]]:
    """(what, limit, where it is enforced) for every bound the page states."""
    stream_maxlen = _settings_default("stream_maxlen")
    published_ttl = _settings_default("published_ttl_s")
    return [
        ("characters", "Unicode code points (a string's length as Python counts it)", "all"),
        ("inbox event (`event` field)", f"≤ {MAX_EVENT_BYTES:,} bytes of UTF-8", "ingest"),
        ("nesting of arrays and objects in an event", f"≤ {MAX_EVENT_DEPTH} levels", "ingest"),
        ("`event_id`", f"1–{MAX_EVENT_ID} characters, any (every event type)", "ingest"),
        ("interaction `text`", f"≤ {MAX_PLAYER_TEXT} characters", "ingest"),
        ("`npc_state` `flags`", f"≤ {MAX_FLAGS} items", "ingest"),
        ("entries read per ingest round", f"{READ_COUNT}", "ingest"),
        (
            "inbox trimming",
            f"every {TRIM_EVERY_S:g} s the ingest removes the entries older than anything "
            "its group has pending or not yet delivered (acknowledged entries only)",
            "ingest",
        ),
        (
            "takeover of a dead ingest's entries",
            f"after {CLAIM_IDLE_MS // 1000} s pending",
            "ingest",
        ),
        ("interaction id remembered (relationship)", f"{APPLIED_TTL_S // 3600} h", "ingest"),
        ("dead letters kept", f"about {DEAD_MAXLEN:,}", "ingest"),
        ("receipts kept per `source`", f"about {RECEIPTS_MAXLEN:,}", "ingest"),
        ("dead-letter `reason`", f"cut at {MAX_REASON_CHARS} characters", "ingest"),
        ("dead-letter `raw`", f"cut at {MAX_EVENT_BYTES:,} characters", "ingest"),
        (
            "a player counts as gone",
            f"{PLAYER_TTL_S:g} s after its last applied position",
            "tier manager",
        ),
        ("decision `speech`", f"≤ {MAX_SPEECH_CHARS} characters", "workers"),
        ("nearby players / NPCs in a record", f"≤ {MAX_NEARBY} each", "registry"),
        (
            "results stream per world",
            f"about `stream_maxlen` entries (default {stream_maxlen:,})",
            "workers",
        ),
        ("decisions per publish script call", f"{PUBLISH_CHUNK}", "workers"),
        (
            "a job's tick id counts as published",
            f"`published_ttl_s` (default {published_ttl:,} s)",
            "workers",
        ),
        ("ticks per Celery message", f"≤ {MAX_BATCH:,}", "workers"),
    ]


def limits_table() -> str:
    rows = ["| what | limit | enforced by |", "|---|---|---|"]
    rows += [f"| {what} | {limit} | {where} |" for what, limit, where in limits()]
    return "\n".join(rows)


def _common(schema: Schema) -> Schema:
    """The fields every event shares, with `type` naming every event type."""
    types = [name.removeprefix("event.") for name in DOCUMENTS if name.startswith("event.")]
    kind = {"enum": types, "type": "string", "description": "selects the schema below"}
    rest = {name: node for name, node in schema["properties"].items() if name != "type"}
    return {**schema, "properties": {"type": kind, **rest}}


def _event_table(name: str) -> str:
    return field_table(schema_of(name), skip=COMMON_EVENT_FIELDS)


def _codes_table() -> str:
    rows = [f"| `{code}` | {meaning} |" for code, meaning in DEAD_CODE_MEANINGS.items()]
    return "\n".join(["| code | meaning |", "|---|---|", *rows])


def blocks() -> dict[str, str]:
    """The generated parts of docs/BRIDGE.md, by marker name."""
    decision = schema_of("decision")
    npc = schema_of("npc")
    interaction = schema_of("event.interaction")
    out = {
        "limits": limits_table(),
        "decision": field_table(decision),
        "timings": field_table(nested(decision, "Timings")),
        "event.common": field_table(
            _common(interaction), skip=("npc_id", "player_id", "kind", "text")
        ),
        "dead_letter": field_table(schema_of("dead_letter")),
        "dead_codes": _codes_table(),
        "receipt": field_table(schema_of("receipt")),
        "npc": field_table(npc),
        "npc.state": field_table(nested(npc, "NPCState")),
        "npc.nearby": field_table(nested(npc, "Nearby")),
        "npc.personality": field_table(nested(npc, "Personality")),
        "decision.v2": field_table(schema_of("decision.v2")),
    }
    for name in profile_names():
        out[f"profile.{name}.actions"] = profile_actions(get_profile(name))
        out[f"profile.{name}.state"] = profile_state(get_profile(name))
    for name in DOCUMENTS:
        if name.startswith("event."):
            out[name] = _event_table(name)
    return out


def gateway_blocks() -> dict[str, str]:
    """The generated parts of docs/GATEWAY.md."""
    from ops.gateway.app import create_app  # noqa: PLC0415
    from ops.gateway.problems import ERROR_MEANINGS  # noqa: PLC0415  (imports FastAPI)

    rows = [f"| `{code}` | {meaning} |" for code, meaning in ERROR_MEANINGS.items()]
    paths = create_app().openapi()["paths"]
    routes = [
        f"| `{method.upper()} {path}` | {_one_line(op.get('description') or op.get('summary'))} |"
        for path, methods in sorted(paths.items())
        for method, op in methods.items()
    ]
    return {
        "gateway_codes": "\n".join(["| code | meaning |", "|---|---|", *rows]),
        "gateway_routes": "\n".join(["| route | what it does |", "|---|---|", *routes]),
    }


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())
