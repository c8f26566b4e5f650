"""One request while it is live in the engine: its KV sequence, text so far, and ending.

Kept apart from the scheduling loop so that the rules for when a decision is finished
(object closed, end-of-generation token, token budget, time limit, cancellation) and
how its text becomes a validated result read in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from models.grammar import (
    DecisionFormatError,
    ObjectScanner,
    ParsedDecision,
    parse_decision,
    parse_head,
    salvage,
)
from models.llm.prefix import AdapterKey, Prefix
from models.llm.sampler import SequenceSampler
from models.llm.ticket import Ticket
from models.llm.types import (
    ERROR_BUDGET,
    ERROR_INVALID_OUTPUT,
    ERROR_TIMEOUT,
    DecisionRequest,
    DecisionResult,
)

DONE = "done"  # the decision object closed, or the model ended its turn
_SALVAGEABLE = (ERROR_BUDGET, ERROR_TIMEOUT)  # cut short: keep a decision cut inside speech


@dataclass(slots=True)
class Pending:
    """A tokenized request waiting for a free sequence slot."""

    ticket: Ticket  # the caller's handle, finished with the result
    request: DecisionRequest
    group: AdapterKey
    prefix_tokens: tuple[int, ...]
    suffix: list[int]
    deadline: float
    seed: int
    prefix_seconds: float = 0.0  # decoding the shared prefix it was first to need

    @property
    def cells(self) -> int:
        """KV cells this request can use beyond its shared prefix."""
        return len(self.suffix) + self.request.max_tokens


@dataclass(slots=True)
class Live:
    """A request decoding in sequence `seq_id`."""

    job: Pending
    seq_id: int
    prefix: Prefix | None
    prefix_reused: int
    sampler: SequenceSampler
    pos: int  # position of the next token fed to the model
    pending: list[int]  # prompt tokens not decoded yet
    reserved: int  # KV cells promised to this sequence (given back when it ends)
    last_token: int | None = None  # sampled, to be fed at the next step
    generated: int = 0
    text: bytearray = field(default_factory=bytearray)
    scanner: ObjectScanner = field(default_factory=ObjectScanner)
    head_sent: bool = False  # the action head went to the caller
    forcing: bool = False  # `pending` holds output tokens the grammar forced, not prompt
    step_tokens: int = 0  # tokens this sequence put in the current step's batch
    decode_seconds: float = 0.0  # its share of decode time so far (see DecisionResult)

    def head(self) -> ParsedDecision | None:
        """Action, target and emotion once complete (checked only while not yet sent)."""
        if self.head_sent or b'"speech":' not in self.text:
            return None
        self.head_sent = True
        return parse_head(self.text.decode("utf-8", "ignore"), self.request.allowed_actions)

    @property
    def request(self) -> DecisionRequest:
        return self.job.request

    @property
    def prompt_tokens(self) -> int:
        return len(self.job.prefix_tokens) + len(self.job.suffix)

    def prime(self, data: bytes) -> None:
        """Start the text with bytes the prompt already holds (the response primer)."""
        self.scanner.feed(data)
        self.text += data

    def accept(self, token: int, piece: bytes, end_of_generation: bool) -> str | None:
        """Record a sampled token; returns DONE, ERROR_BUDGET or None (go on)."""
        self.generated += 1
        if end_of_generation:
            return DONE
        closed_at = self.scanner.feed(piece)
        self.text += piece if closed_at is None else piece[:closed_at]
        if closed_at is not None:
            return DONE
        if self.generated >= self.request.max_tokens:
            return ERROR_BUDGET
        self.last_token = token
        return None

    def force(self, tokens: Sequence[int], pieces: Sequence[bytes]) -> None:
        """Queue output the grammar leaves no choice about behind the sampled token: all
        of it is decoded in the next step as one chunk, as a prompt is."""
        for piece in pieces:
            self.generated += 1
            self.scanner.feed(piece)
            self.text += piece
        if self.last_token is not None:
            self.pending = [self.last_token, *tokens]
            self.last_token, self.forcing = None, True

    def result(self, reason: str, seconds: float, detail: str = "") -> DecisionResult:
        """The result for ending with `reason`: DONE or an ERROR_* kind."""
        text = self.text.decode("utf-8", "ignore")
        allowed = self.request.allowed_actions
        parsed, error = None, None
        if reason == DONE:
            try:
                parsed = parse_decision(text, allowed)
            except DecisionFormatError as exc:
                error = f"{ERROR_INVALID_OUTPUT}: {exc}"
        else:
            parsed = salvage(text, allowed) if reason in _SALVAGEABLE else None
            if parsed is None:
                error = f"{reason}: {detail}" if detail else reason
        return DecisionResult(
            request_id=self.request.request_id,
            action=parsed.action if parsed else None,
            target=parsed.target if parsed else None,
            speech=parsed.speech if parsed else None,
            emotion=parsed.emotion if parsed else None,
            error=error,
            prompt_tokens=self.prompt_tokens,
            prefix_tokens_reused=self.prefix_reused,
            generated_tokens=self.generated,
            seconds=seconds,
            decode_seconds=self.decode_seconds,
        )


def error_result(
    request: DecisionRequest, error: str, seconds: float, prompt_tokens: int = 0
) -> DecisionResult:
    """The result of a request that never produced a token."""
    return DecisionResult(
        request_id=request.request_id,
        action=None,
        target=None,
        speech=None,
        emotion=None,
        error=error,
        prompt_tokens=prompt_tokens,
        prefix_tokens_reused=0,
        generated_tokens=0,
        seconds=seconds,
    )
