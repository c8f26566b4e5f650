"""The language-model brain of one worker process: load once, decide, degrade safely.

The engine loads in a background thread started by the worker's process hook, so
Celery's 4 s `worker_process_init` limit never applies to it. The order is cache, then
model, then rules: a Redis cache keyed by the situation (tasks/response_cache.py)
answers repeated situations first (`source=cache`), also while the engine loads, fails
or rests; what it misses goes to the model, and when the model is not there (loading,
disabled, failing, circuit open) the rules brain decides at once and says why
(`reason`). In a threads-pool worker every slot submits to the one engine, whose loop
batches them together.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from models.archetypes import get_archetype
from models.prompts import echoes_instructions
from models.rules import RuleChoice
from npcfarm import engines
from npcfarm.budget import over_budget
from npcfarm.domain import NPC, Action, Emotion, Source, Tier, clip_speech
from npcfarm.errors import EngineError, NpcFarmError
from npcfarm.memory.render import PromptMemory
from tasks.breaker import CircuitBreaker
from tasks.context import WorkerContext
from tasks.response_cache import cache_key, lookup
from tasks.said import AT_PLAYER, SPEAKING, UNTARGETED, refusal
from tasks.speaking import Asking

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Asked:
    """One NPC to decide, and what a player just said to it (if anything)."""

    npc: NPC
    tick_id: str
    player_id: str | None = None
    words: str | None = None
    memory: PromptMemory | None = None  # cards, retrieved memories, the conversation


@dataclass(frozen=True, slots=True)
class Answer:
    choice: RuleChoice | None  # None: fall back to the rules brain
    source: Source
    reason: str | None
    speaking: bool = False  # a model answer whose speech is still being generated


class LlmBrain:
    def __init__(self) -> None:
        self._engine: Any = None  # models.llm.Engine once loaded
        self._model = ""
        self._configured = ""  # the base named by the settings, known before it loads
        self._failed: str | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.breaker = CircuitBreaker()

    def start_loading(self, ctx: WorkerContext) -> None:
        """Begin loading in the background (idempotent); never blocks the caller."""
        if self._thread is not None or not ctx.settings.engine_enabled:
            return
        s = ctx.settings
        self.breaker = CircuitBreaker(
            threshold=s.engine_breaker_threshold, cooldown_s=s.engine_breaker_cooldown_s
        )
        self._configured = _configured_base(ctx)
        self._thread = threading.Thread(
            target=self._load, args=(ctx,), daemon=True, name="engine-loader"
        )
        self._thread.start()

    def _load(self, ctx: WorkerContext) -> None:
        s = ctx.settings
        started = time.monotonic()
        try:
            from models.catalogue import engine_config, load_model_catalogue  # noqa: PLC0415
            from models.llm import Engine  # noqa: PLC0415
            from models.prompts import system_prompt  # noqa: PLC0415

            catalogue = load_model_catalogue(s.model_catalogue) if s.model_catalogue else None
            config = engine_config(s.data_dir, s.engine_base, catalogue=catalogue)
            engine = Engine(**config.engine_kwargs())
            engine.warm_up(prefixes={a: system_prompt(get_archetype(a)) for a in config.archetypes})
        except (ImportError, NpcFarmError, OSError, ValueError) as exc:
            self._failed = f"{type(exc).__name__}: {exc}"
            log.error("engine not loaded, deciding with the rules brain: %s", self._failed)
            self._ready.set()
            return
        self._engine, self._model = engine, config.base
        info = {
            "base": config.base,
            "loaded_s": round(time.monotonic() - started, 2),
            "at": time.time(),
            "adapter_faults": sorted(engine.adapter_faults),
            **engine.offload,
        }
        engines.register(ctx.client, ctx.keys, info, metrics=engine.metrics)
        log.info(
            "engine %s ready in %.1f s (offload %s)", config.base, info["loaded_s"], engine.offload
        )
        self._ready.set()

    def leave(self, ctx: WorkerContext) -> None:
        """The process is shutting down: take its engine off the registry."""
        if self._engine is not None:
            try:
                engines.forget(ctx.client, ctx.keys)
            except redis.RedisError as exc:  # the entry then goes stale and is dropped later
                log.warning("could not unregister the engine: %s", exc)

    @property
    def model(self) -> str:
        return self._model

    def _unavailable(self, ctx: WorkerContext) -> str | None:
        if not ctx.settings.engine_enabled:
            return "engine_off"
        self.start_loading(ctx)
        wait = ctx.settings.engine_load_wait_s
        if not (self._ready.is_set() or (wait and self._ready.wait(wait))):
            return "engine_loading"  # decided by rules now, never held in a slot
        if self._engine is None:
            return "engine_unavailable"
        if not self.breaker.allow():
            return "engine_circuit_open"
        return None

    def reflect(self, ctx: WorkerContext, npc: NPC, player_id: str, summary: str) -> str | None:
        """The NPC's own line about a conversation that ended, if a model is loaded here
        already (a summary job never waits for one, and never loads one)."""
        if self._engine is None or not self.breaker.allow():
            return None
        from models.llm import DecisionRequest  # noqa: PLC0415
        from models.prompts import system_prompt, user_prompt  # noqa: PLC0415

        s, archetype = ctx.settings, get_archetype(npc.archetype)
        ask = (
            f"Your conversation with {player_id} has ended. What happened: {summary} "
            f"Speak one short line about what you now think of {player_id}."
        )
        request = DecisionRequest(
            request_id=f"reflect-{npc.id}",
            archetype=archetype.name,
            system_prompt=system_prompt(archetype),
            prompt=user_prompt(npc, memory=[ask]),
            allowed_actions=tuple(sorted(archetype.allowed_actions)),
            max_tokens=s.engine_max_tokens,
            time_limit_s=s.engine_time_limit_s,
        )
        try:
            (result,) = self._engine.decide([request])
        except EngineError as exc:
            self.breaker.failed()
            log.warning("engine failed a reflection, deterministic summary only: %s", exc)
            return None
        if not result.ok or not result.speech or echoes_instructions(result.speech, archetype):
            return None
        return clip_speech(result.speech)

    def decide(
        self, ctx: WorkerContext, asked: Sequence[Asked], *, tier: Tier | None = None
    ) -> list[Answer]:
        """Whole answers (speech included); see `ask` for the action first."""
        return self.ask(ctx, asked, tier=tier).finals()

    def ask(
        self, ctx: WorkerContext, asked: Sequence[Asked], *, tier: Tier | None = None
    ) -> Asking:
        """Cached or model decisions where possible; the rest marked for the rules brain,
        with why. The model's requests are submitted at once and join the engine's running
        batch; `tier` only labels the cache counters."""
        if not ctx.settings.engine_enabled:
            return Asking(ctx, asked, [Answer(None, Source.RULES, "engine_off")] * len(asked))
        self.start_loading(ctx)
        from models.llm import DecisionRequest  # noqa: PLC0415
        from models.prompts import system_prompt, user_prompt  # noqa: PLC0415

        s = ctx.settings
        requests = []
        for a in asked:
            archetype = get_archetype(a.npc.archetype)
            requests.append(
                DecisionRequest(
                    request_id=a.tick_id,
                    archetype=archetype.name,
                    system_prompt=system_prompt(archetype),
                    prompt=user_prompt(
                        a.npc,
                        player_id=a.player_id,
                        player_words=a.words,
                        memory=a.memory.lines if a.memory else (),
                        recent_turns=a.memory.turns if a.memory else (),
                    ),
                    allowed_actions=tuple(sorted(archetype.allowed_actions)),
                    max_tokens=s.engine_max_tokens,
                    time_limit_s=s.engine_time_limit_s,
                    tier=str(tier) if tier is not None else "",
                )
            )
        model = self._model or self._configured
        digests = [
            cache_key(model, r.system_prompt, a) for r, a in zip(requests, asked, strict=True)
        ]
        answers: list[Answer | None] = [None] * len(asked)
        if s.response_cache_ttl_s:
            for i, fields in enumerate(lookup(ctx, digests, tier)):
                if fields:
                    answers[i] = validate_answer(
                        asked[i].npc,
                        fields,
                        Source.CACHE,
                        player_id=asked[i].player_id,
                        words=asked[i].words,
                    )
        todo = [i for i, a in enumerate(answers) if a is None]
        label = str(tier) if tier is not None else "gold"
        if todo and s.budgets:
            todo = _within_budget(ctx, asked, todo, label, answers)
        if todo and (why := self._unavailable(ctx)):
            for i in todo:
                answers[i] = Answer(None, Source.RULES, why)
            todo = []
        asking = Asking(
            ctx,
            asked,
            answers,
            digests=digests,
            breaker=self.breaker,
            tier=label,
        )
        if todo:
            asking.degraded = frozenset(self._engine.adapter_faults)
            try:
                asking.tickets = {i: self._engine.submit(requests[i]) for i in todo}
            except EngineError as exc:
                self.breaker.failed()
                log.warning("engine refused a batch of %d, rules brain instead: %s", len(todo), exc)
                for i in todo:
                    why = f"engine_error:{type(exc).__name__}"[:64]
                    answers[i] = Answer(None, Source.RULES, why)
                asking.tickets = {}
        return asking


def _within_budget(
    ctx: WorkerContext,
    asked: Sequence[Asked],
    todo: list[int],
    tier: str,
    answers: list[Answer | None],
) -> list[int]:
    """Requests whose world's tier has budget left today; the rest go to the rules
    brain with `reason = budget` (their answers are set here)."""
    worlds = {(asked[i].npc.world, tier) for i in todo}
    spent = over_budget(ctx.client, ctx.keys, ctx.settings, worlds, now=time.time())
    for i in todo:
        if (asked[i].npc.world, tier) in spent:
            answers[i] = Answer(None, Source.RULES, "budget")
    return [i for i in todo if answers[i] is None]


def _configured_base(ctx: WorkerContext) -> str:
    """The base the settings name (no model is touched), for cache keys while it loads."""
    from models.catalogue import configured_base  # noqa: PLC0415

    s = ctx.settings
    try:
        return configured_base(s.model_catalogue, s.engine_base)[0]
    except (NpcFarmError, OSError, ValueError):
        return s.engine_base or ""


def validate_answer(
    npc: NPC,
    fields: dict[str, Any],
    source: Source,
    *,
    player_id: str | None = None,
    words: str | None = None,
) -> Answer:
    """Validate a model decision against the schema and the NPC's world, once more; a
    refused one goes to the rules brain and says why. An answer to a player aims at
    that player, and speaks only where the action carries speech (tasks/said.py)."""
    try:
        action, emotion = Action(fields["action"]), Emotion(fields["emotion"])
    except (KeyError, ValueError):
        return Answer(None, Source.RULES, "invalid_output")
    archetype = get_archetype(npc.archetype)
    if action not in archetype.allowed_actions:
        return Answer(None, Source.RULES, "invalid_output")
    seen = {e.id for e in (*npc.state.nearby_players, *npc.state.nearby_npcs)}
    target = fields.get("target") if fields.get("target") in seen else None
    if player_id is not None and action in AT_PLAYER:
        target = player_id
    elif action in UNTARGETED:
        target = None
    speech = clip_speech(str(fields["speech"])) if fields.get("speech") else None
    if speech and action not in SPEAKING:
        speech = None
    if speech and echoes_instructions(speech, archetype):
        return Answer(None, Source.RULES, "prompt_echo")
    if speech and (why := refusal(speech, words)):
        return Answer(None, Source.RULES, why)
    return Answer(RuleChoice(action, target, speech, emotion), source, None)


BRAIN = LlmBrain()  # one per worker process (Celery forks before any engine loads)
