"""What goes into the engine and what comes out: plain frozen dataclasses.

A result either carries a validated decision (action and emotion set) or an error
(`error` set, action None), never both and never neither; the task layer turns an
error into a rules fallback. Error strings start with one of the ERROR_* kinds, short
enough to be a `Decision.reason` as they stand.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from npcfarm.domain import Action, Decision, Emotion, Source, Tier, Timings

ERROR_CONTEXT_OVERFLOW = "context_overflow"  # prompt + budget can never fit the context
ERROR_DECODE_FAILURE = "decode_failure"  # llama_decode (or the grammar) failed mid-way
ERROR_TIMEOUT = "timeout"  # time limit reached before a usable decision
ERROR_BUDGET = "token_budget"  # max_tokens reached before a usable decision
ERROR_CANCELLED = "cancelled"  # Engine.cancel() was called for the request
ERROR_INVALID_OUTPUT = "invalid_output"  # unconstrained output did not validate
ERROR_INVALID_REQUEST = "invalid_request"  # empty allowed_actions, bad limits


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    """One NPC decision to make; prompts come from models/prompts.py.

    `system_prompt` should depend on the archetype only: it is decoded once and shared
    by every sequence with the same (archetype, adapter set, system prompt).
    """

    request_id: str
    archetype: str
    system_prompt: str
    prompt: str
    allowed_actions: tuple[Action, ...]
    max_tokens: int = 96
    time_limit_s: float = 5.0
    tier: str = ""  # a label only: the engine's latencies are also kept per tier


@dataclass(frozen=True, slots=True)
class ActionHead:
    """What a game can act on before the speech is generated."""

    action: Action
    target: str | None
    emotion: Emotion
    seconds: float  # from submission: the time to action


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """The outcome of one request, in the order the requests were given."""

    request_id: str
    action: Action | None
    target: str | None
    speech: str | None
    emotion: Emotion | None
    error: str | None
    prompt_tokens: int  # prefix + suffix tokens this request's sequence attends to
    prefix_tokens_reused: int  # of those, taken from the shared prefix, not evaluated
    generated_tokens: int
    seconds: float  # from the start of `decide` to this result
    # This request's share of llama_decode time (each step's time split by the tokens
    # each sequence put in the batch): what it cost the GPU, for budgets.
    decode_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def evaluated_prompt_tokens(self) -> int:
        return self.prompt_tokens - self.prefix_tokens_reused

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def as_decision(self, *, npc_id: str, world: str, tier: Tier = Tier.GOLD) -> Decision:
        """The result as a domain `Decision` (raises pydantic's ValidationError if it
        would not pass the published schema); timings are left at zero."""
        zero = Timings(
            enqueued_at=0,
            started_at=0,
            decided_at=0,
            published_at=0,
            queue_ms=0,
            decide_ms=0,
            latency_ms=0,
        )
        return Decision(
            npc_id=npc_id,
            world=world,
            tick_id=self.request_id,
            tier=tier,
            action=self.action,
            target=self.target,
            speech=self.speech,
            emotion=self.emotion,
            source=Source.LLM,
            timings=zero,
        )
