"""One exception hierarchy for the whole farm.

Callers catch narrowly: a worker treats `TransientError` (Redis blips, engine
timeouts) differently from `InvalidInput` (never retried, dead-lettered or reported).
"""

from __future__ import annotations

from pydantic import ValidationError


class NpcFarmError(Exception):
    """Base of every error the farm raises on purpose."""


class ConfigError(NpcFarmError):
    """A settings value, tick configuration or catalogue entry is unusable."""


class InvalidInput(NpcFarmError):
    """Data from outside (a job, an import file, a bridge event) failed validation."""


class UnknownNPC(InvalidInput):
    """An NPC id that the registry does not hold."""

    def __init__(self, npc_id: str) -> None:
        super().__init__(f"unknown NPC id {npc_id!r}")
        self.npc_id = npc_id


class EventRefused(InvalidInput):
    """An inbox entry the ingest dead-letters: `code` is one of npcfarm.events.DeadCode."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class TransientError(NpcFarmError):
    """Something outside us failed in a way that a retry may fix."""


class RedisUnavailable(TransientError):
    """The Redis server could not be reached or started."""


class ClaimContention(TransientError):
    """Other settles of the same NPCs' claims kept winning the race (rare)."""


class EngineError(NpcFarmError):
    """The decision engine failed; the task layer falls back to the rules brain."""


class ModelMissing(EngineError):
    """A configured GGUF file (or the package that ships it) is not there."""


class ModelLoadFailed(EngineError):
    """llama.cpp refused a model or adapter file: corrupt, truncated, wrong base or checksum."""


class ContextOverflow(EngineError):
    """A prompt (plus its token budget) does not fit the context left to one sequence."""


class DecodeFailure(EngineError):
    """llama_decode failed for a batch; the sequences in it end with an error."""


class EngineTimeout(EngineError, TransientError):
    """A decision ran past its time limit; the next tick may well succeed."""


def first_problem(exc: ValidationError, *, subject: str) -> str:
    """A validation failure as one readable line: `field.path: message`."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or subject
    return f"{where}: {first['msg']}"
