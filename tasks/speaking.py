"""Model answers in two steps: the action as soon as it is decoded, the speech after.

The engine resolves a ticket's `action` future when action, target and emotion are
complete (the grammar orders them first) and its `future` when the speech is done too.
`Asking.heads()` gives what a game can act on at once; `Asking.finals()` the whole
answers, which also feed the response cache and the circuit breaker. Answers that
never reached the model (cache hits, rules fallbacks) are whole from the start.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from npcfarm import tracing
from npcfarm.budget import Usage, record
from npcfarm.domain import Source

if TYPE_CHECKING:
    from models.llm.ticket import Ticket
    from tasks.breaker import CircuitBreaker
    from tasks.context import WorkerContext
    from tasks.llm import Answer, Asked

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Asking:
    """One batch's model requests in flight, aligned with the asked NPCs."""

    ctx: WorkerContext
    asked: Sequence[Asked]
    answers: list[Answer | None]  # whole answers known already (cache, rules)
    tickets: dict[int, Ticket] = field(default_factory=dict)  # index -> in the engine
    digests: list[str] = field(default_factory=list)
    degraded: frozenset[str] = frozenset()  # archetypes on the bare base (adapter faults)
    breaker: CircuitBreaker | None = None
    tier: str = "gold"  # what the model's cost is accounted under
    _finals: list[Answer] | None = None

    def heads(self) -> list[Answer]:
        """Every answer as soon as its action is known; `speaking` ones get speech later."""
        from tasks.llm import Answer, validate_answer  # noqa: PLC0415

        out = []
        for i, known in enumerate(self.answers):
            ticket = self.tickets.get(i)
            if ticket is None:
                out.append(known or Answer(None, Source.RULES, "engine_error"))
                continue
            head = ticket.action.result()
            if head is None or ticket.future.done():  # ended already: the whole answer
                out.append(self._final(i, ticket.future.result()))
                continue
            fields = {"action": str(head.action), "target": head.target, "speech": None}
            asked = self.asked[i]
            answer = validate_answer(
                asked.npc,
                {**fields, "emotion": str(head.emotion)},
                Source.LLM,
                player_id=asked.player_id,
                words=asked.words,
            )
            if answer.choice is not None:
                answer = replace(answer, speaking=not ticket.future.done(), reason=self._why(i))
            out.append(answer)
        return out

    def finals(self) -> list[Answer]:
        """Every whole answer (waits for the speech); feeds the cache and the breaker."""
        from tasks.llm import Answer  # noqa: PLC0415

        if self._finals is not None:
            return self._finals
        out: list[Answer] = []
        good = 0
        pipe = self.ctx.client.pipeline(transaction=False)
        usages = []
        for i, known in enumerate(self.answers):
            ticket = self.tickets.get(i)
            if ticket is None:
                out.append(known or Answer(None, Source.RULES, "engine_error"))
                continue
            result = ticket.future.result()
            npc = self.asked[i].npc
            usages.append(
                Usage(
                    world=npc.world,
                    tier=self.tier,
                    archetype=npc.archetype,
                    prompt_tokens=result.evaluated_prompt_tokens,
                    generated_tokens=result.generated_tokens,
                    decode_s=result.decode_seconds,
                )
            )
            answer = self._final(i, result)
            out.append(answer)
            if tracing.enabled():
                _trace_request(ticket, result, npc.archetype)
            if answer.choice is None or answer.source is not Source.LLM:
                continue
            good += 1
            ttl = self.ctx.settings.response_cache_ttl_s
            if ttl:
                pipe.set(
                    self.ctx.keys.response_cache(self.digests[i]),
                    json.dumps(_fields(result)),
                    ex=ttl,
                )
        record(pipe, self.ctx.keys, usages, settings=self.ctx.settings, now=time.time())
        pipe.execute()
        if self.breaker is not None and self.tickets:
            (self.breaker.succeeded if good else self.breaker.failed)()
        self._finals = out
        return out

    def _why(self, i: int) -> str | None:
        return "adapter_unavailable" if self.asked[i].npc.archetype in self.degraded else None

    def _final(self, i: int, result: Any) -> Answer:
        from tasks.llm import Answer, validate_answer  # noqa: PLC0415

        if result.error is not None:
            return Answer(None, Source.RULES, result.error.split(":")[0][:64])
        asked = self.asked[i]
        answer = validate_answer(
            asked.npc, _fields(result), Source.LLM, player_id=asked.player_id, words=asked.words
        )
        if answer.choice is not None and (why := self._why(i)):
            answer = replace(answer, reason=why)
        return answer


def _trace_request(ticket: Ticket, result: Any, archetype: str) -> None:
    """The engine's part of the trace: submitted, out of the queue (`slot`), action
    decoded (`action`), speech done (the end); timed in the loop, recorded here."""
    now_ns, now = time.time_ns(), time.perf_counter()

    def at(perf: float) -> int:
        return now_ns - int((now - perf) * 1e9)

    events = {}
    if ticket.started is not None:
        events["slot"] = at(ticket.started)
    head = ticket.action.result() if ticket.action.done() else None
    if head is not None:
        events["action"] = at(ticket.submitted + head.seconds)
    queued = (ticket.started - ticket.submitted) * 1000 if ticket.started is not None else 0.0
    tracing.record(
        "engine.request",
        start_ns=at(ticket.submitted),
        end_ns=at(ticket.submitted + result.seconds),
        attributes={
            "npcfarm.archetype": archetype,
            "npcfarm.queue_ms": round(queued, 2),
            "npcfarm.action_ms": round(head.seconds * 1000, 2) if head is not None else -1.0,
            "npcfarm.speech_ms": round(result.seconds * 1000, 2),
            "npcfarm.prompt_tokens": result.evaluated_prompt_tokens,
            "npcfarm.generated_tokens": result.generated_tokens,
            "npcfarm.decode_s": round(result.decode_seconds, 6),
            "npcfarm.error": result.error or "",
        },
        events=events,
    )


def _fields(result: Any) -> dict[str, Any]:
    return {
        "action": str(result.action),
        "target": result.target,
        "speech": result.speech,
        "emotion": str(result.emotion),
    }
