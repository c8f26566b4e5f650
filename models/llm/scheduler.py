"""The continuous-batching loop: admission, shared prefixes, adapter groups, decoding.

The engine's loop thread calls `Scheduler.step` without pause while there is work;
requests join (`add`) between steps, from any caller, and leave when done. Each step
expires late or cancelled requests, admits queued ones into free sequence slots
(copying their archetype's shared prefix, decoding it first if it is new), then decodes
one batch: the next token of every generating sequence of one adapter group plus
prompt chunks of newly admitted ones, and samples from it. Only the loop thread touches
the context.

LoRA sets apply to a whole context, so a batch never mixes adapter groups. Admission
prefers requests of the group being decoded, so batches stay full; when several groups
are live they take turns of up to GROUP_QUANTUM steps, so none starves.

KV cells are budgeted, not discovered: a request is admitted only when its suffix plus
its token budget fit beside what live sequences and cached prefixes hold, so a decode
never fails for lack of room; one that could never fit ends as a context overflow.
"""

from __future__ import annotations

import time
import zlib
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from models.grammar import RESPONSE_PRIMER, forced_continuation
from models.llm.draw import BatchDraw
from models.llm.framing import Framer
from models.llm.native import TOKEN_DATA, Batch, Context
from models.llm.prefix import AdapterKey, Prefix, PrefixCache, PrefixKey
from models.llm.sampler import GrammarBook, SamplingParams, SequenceSampler
from models.llm.sequence import Live, Pending, error_result
from models.llm.stats import EngineStats
from models.llm.ticket import Ticket
from models.llm.types import (
    ERROR_CANCELLED,
    ERROR_CONTEXT_OVERFLOW,
    ERROR_DECODE_FAILURE,
    ERROR_INVALID_REQUEST,
    ERROR_TIMEOUT,
    ActionHead,
    DecisionRequest,
    DecisionResult,
)
from npcfarm.errors import DecodeFailure

GROUP_QUANTUM = 8  # decode steps one adapter group keeps while another group waits
HEAD_PROMPT_BUDGET = 0  # prompt tokens a step may carry while action heads are decoding
_PRIMER = RESPONSE_PRIMER.encode()


class Scheduler:
    """Owns the sequence slots of one context and the requests queued or live in it."""

    def __init__(
        self,
        ctx: Context,
        *,
        framer: Framer,
        n_slots: int,
        max_prefixes: int,
        n_batch: int,
        adapters: dict[str, Any],
        groups: dict[str, AdapterKey],
        sampling: SamplingParams,
        constrained: bool,
        seed: int,
        stats: Callable[[], EngineStats],
    ) -> None:
        self._ctx, self._framer = ctx, framer
        self._batch = Batch(n_batch)
        self._prefixes = PrefixCache(range(n_slots, n_slots + max_prefixes), ctx.seq_remove)
        self._free_slots = list(range(n_slots))[::-1]
        self._grammars = GrammarBook(ctx.model)
        self._scratch = np.zeros(ctx.model.n_vocab, dtype=TOKEN_DATA)
        self._adapters, self._groups = adapters, groups
        self._sampling, self._constrained, self._seed = sampling, constrained, seed
        self._draw = BatchDraw(sampling, ctx.model.n_vocab)
        self._forced: dict[str, list[int]] = {}  # forced literal -> its tokens
        self._stats = stats
        self._reserved = 0  # KV cells promised to live sequences
        self._group: AdapterKey = ()
        self._group_steps = 0
        self.cancelled: set[str] = set()  # written by any thread, read by the loop
        self.queue: deque[Pending] = deque()
        self.live: dict[int, Live] = {}

    @property
    def busy(self) -> bool:
        return bool(self.queue or self.live)

    def add(self, ticket: Ticket) -> None:
        """Queue a submitted request (a malformed one is answered at once)."""
        problem = _invalid(ticket.request)
        if problem:
            error = f"{ERROR_INVALID_REQUEST}: {problem}"
            self._finish(ticket, error_result(ticket.request, error, ticket.elapsed()))
            return
        self.queue.append(self.pending(ticket))

    def step(self) -> None:
        """One turn of the loop: expire, admit, decode one batch of one adapter group."""
        started = time.perf_counter()
        self._expire()
        self._admit()
        if self.live:
            self._stats().count_step(len(self.live))
            self._step(self._next_group())
            self._stats().step_seconds += time.perf_counter() - started

    def abort(self, error: str) -> None:
        """End everything queued or live with `error` (the engine closes or broke)."""
        while self.queue:
            job = self.queue.popleft()
            self._finish(job.ticket, error_result(job.request, error, job.ticket.elapsed()))
        for live in list(self.live.values()):
            self._end(live, error)

    def pending(self, ticket: Ticket) -> Pending:
        request = ticket.request
        seed = (self._seed * 1_000_003 + zlib.crc32(request.request_id.encode())) & 0xFFFFFFFF
        return Pending(
            ticket=ticket,
            request=request,
            group=self._groups.get(request.archetype, ()),
            prefix_tokens=self._framer.prefix(request.system_prompt),
            suffix=self._framer.suffix(request.prompt),
            deadline=ticket.submitted + request.time_limit_s,
            seed=seed,
        )

    def _finish(self, ticket: Ticket, result: DecisionResult) -> None:
        self.cancelled.discard(ticket.request_id)
        self._stats().count_result(ticket.request.tier, result.seconds)
        ticket.finish(result)

    def clear_prefixes(self) -> None:
        self._prefixes.clear()

    def close(self) -> None:
        self._grammars.close()
        self._batch.close()

    def _expire(self) -> None:
        now = time.perf_counter()
        for job in list(self.queue):
            reason = ERROR_CANCELLED if job.request.request_id in self.cancelled else None
            reason = reason or (ERROR_TIMEOUT if now > job.deadline else None)
            if reason:
                self.queue.remove(job)
                self._finish(job.ticket, error_result(job.request, reason, job.ticket.elapsed()))
        for live in list(self.live.values()):
            if live.request.request_id in self.cancelled:
                self._end(live, ERROR_CANCELLED)
            elif now > live.job.deadline:
                self._end(live, ERROR_TIMEOUT, f"{live.request.time_limit_s:g} s")

    def _admit(self) -> None:
        while self.queue and self._free_slots:
            job = next((j for j in self.queue if j.group == self._group), self.queue[0])
            key: PrefixKey = (job.request.archetype, job.group, job.request.system_prompt)
            total = job.cells + len(job.prefix_tokens)
            if total > self._ctx.n_ctx or not (self.live or self._fits(job, key)):
                self.queue.remove(job)
                detail = f"{total} tokens (prompt + max_tokens) > n_ctx {self._ctx.n_ctx}"
                error = f"{ERROR_CONTEXT_OVERFLOW}: {detail}"
                self._finish(job.ticket, error_result(job.request, error, 0.0, total))
                continue
            if not self._fits(job, key):
                return  # wait for live sequences to end and give their cells back
            self.queue.remove(job)
            try:
                self._start(job)
            except DecodeFailure as exc:
                error = f"{ERROR_DECODE_FAILURE}: {exc}"
                self._finish(job.ticket, error_result(job.request, error, job.ticket.elapsed()))

    def _fits(self, job: Pending, key: PrefixKey) -> bool:
        """Whether `job` fits the KV cells left, after evicting idle prefixes if need be."""
        need = job.cells + (0 if self._prefixes.get(key) else len(job.prefix_tokens))
        free = self._ctx.n_ctx - self._reserved - self._prefixes.cells
        return need <= free or self._prefixes.evict_idle(cells=need - free, keep=key)

    def prefix_for(self, job: Pending) -> tuple[Prefix | None, int]:
        """The shared prefix of `job` (decoded now if new) and the tokens it reuses."""
        if not job.prefix_tokens:
            return None, 0
        key: PrefixKey = (job.request.archetype, job.group, job.request.system_prompt)
        prefix = self._prefixes.get(key)
        if prefix is not None:
            self._stats().prefix_hits += 1
            self._prefixes.touch(prefix)
            return prefix, len(prefix.tokens)
        prefix = self._prefixes.add(key, job.prefix_tokens)
        if prefix is None:
            return None, 0  # every prefix slot is in use: decode it privately
        self._stats().prefix_misses += 1
        try:
            self._use_adapters(job.group)
            for at in range(0, len(prefix.tokens), self._batch.capacity):
                self._batch.clear()
                for pos, token in enumerate(prefix.tokens[at : at + self._batch.capacity], at):
                    self._batch.add(token, pos, prefix.seq_id, False)
                job.prefix_seconds += self._decode()
        except DecodeFailure:
            self._prefixes.remove(prefix)
            raise
        self._stats().prompt_tokens_evaluated += len(prefix.tokens)
        return prefix, 0

    def _start(self, job: Pending) -> None:
        job.ticket.started = time.perf_counter()
        prefix, reused = self.prefix_for(job)
        seq_id = self._free_slots.pop()
        if prefix is not None:
            self._ctx.seq_copy(prefix.seq_id, seq_id)
            prefix.users += 1
            pending, pos, reserved = list(job.suffix), len(prefix.tokens), job.cells
        else:
            pending, pos = list(job.prefix_tokens) + job.suffix, 0
            reserved = job.cells + len(job.prefix_tokens)
        allowed = job.request.allowed_actions
        sampler = SequenceSampler(
            self._ctx,
            params=self._sampling,
            seed=job.seed,
            grammar=self._grammars.new_sampler(allowed) if self._constrained else None,
            scratch=self._scratch,
            stats=self._stats().sampler,
        )
        sampler.advance(self._framer.primer)
        self._reserved += reserved
        live = Live(job, seq_id, prefix, reused, sampler, pos, pending, reserved)
        live.decode_seconds = job.prefix_seconds  # the shared prefix's first reader pays it
        live.prime(_PRIMER)
        self.live[seq_id] = live

    def _next_group(self) -> AdapterKey:
        groups = sorted({live.job.group for live in self.live.values()})
        if self._group in groups and (len(groups) == 1 or self._group_steps < GROUP_QUANTUM):
            self._group_steps += 1
            return self._group
        later = [g for g in groups if g > self._group]
        self._group, self._group_steps = (later or groups)[0], 1
        return self._group

    def _fill(self, members: list[Live]) -> list[tuple[Live, int]]:
        """Put each member's next token or prompt chunk in the batch; returns outputs.

        While some member is decoding its action head, prompt chunks get at most
        HEAD_PROMPT_BUDGET tokens a step: a step that carries a 512-token prompt chunk
        costs as much as dozens of plain steps, and the head is what a game waits for
        (the NPC moves on it), so heads are decoded in cheap steps first. Heads are a
        dozen tokens long, so prompts wait a few steps, never indefinitely.
        """
        batch, outputs = self._batch, []
        batch.clear()
        heads = False
        for live in members:
            live.step_tokens = 0
            if not live.pending and live.last_token is not None:
                outputs.append((live, batch.add(live.last_token, live.pos, live.seq_id, True)))
                live.step_tokens = 1
                live.pos, live.last_token = live.pos + 1, None
                heads = heads or (self._constrained and not live.head_sent)
        budget = batch.n + HEAD_PROMPT_BUDGET if heads else batch.capacity
        for live in sorted(members, key=lambda m: not m.forcing):  # forced output first
            room = (batch.capacity if live.forcing else min(batch.capacity, budget)) - batch.n
            if live.pending and room > 0:
                chunk, live.pending = live.pending[:room], live.pending[room:]
                for k, token in enumerate(chunk, 1):
                    wants_logits = not live.pending and k == len(chunk)
                    index = batch.add(token, live.pos, live.seq_id, wants_logits)
                    live.pos += 1
                live.step_tokens += len(chunk)
                if not live.pending:
                    outputs.append((live, index))
                if live.forcing:
                    live.forcing = bool(live.pending)
                else:
                    self._stats().prompt_tokens_evaluated += len(chunk)
        return outputs

    def _jump(self, live: Live) -> None:
        """Jump-forward: queue the text the grammar forces next (a key after a value),
        token by token as far as the grammar admits, within the token budget."""
        text = live.text.decode("utf-8", "ignore")
        literal = forced_continuation(text, live.request.allowed_actions)
        if not literal:
            return
        tokens = self._forced.get(literal)
        if tokens is None:
            tokens = self._forced[literal] = self._ctx.model.tokenize(literal, special=False)
        if live.generated + len(tokens) >= live.request.max_tokens:
            return
        admitted = []
        for token in tokens:
            if not live.sampler.admit(token):
                break
            admitted.append(token)
        if admitted:
            live.force(admitted, [self._ctx.model.piece(t) for t in admitted])
            self._stats().forced_tokens += len(admitted)

    def _step(self, group: AdapterKey) -> None:
        members = [live for live in self.live.values() if live.job.group == group]
        outputs = self._fill(members)
        try:
            self._use_adapters(group)
            seconds = self._decode()
        except DecodeFailure as exc:
            for live in members:
                self._end(live, ERROR_DECODE_FAILURE, str(exc))
            return
        per_token = seconds / max(self._batch.n, 1)
        for live in members:
            live.decode_seconds += per_token * live.step_tokens
        model = self._ctx.model
        try:
            rows = self._ctx.output_rows([index for _, index in outputs])
        except DecodeFailure as exc:
            for live in members:
                self._end(live, ERROR_DECODE_FAILURE, str(exc))
            return
        drawn = self._draw.draw(rows, [live.sampler.rng for live, _ in outputs])
        for (live, index), draw in zip(outputs, drawn, strict=True):
            try:
                token = live.sampler.constrain(draw, index)
            except DecodeFailure as exc:
                self._end(live, ERROR_DECODE_FAILURE, str(exc))
                continue
            reason = live.accept(token, model.piece(token), model.is_eog(token))
            self._stats().generated_tokens += 1
            if reason is None and self._constrained:
                self._jump(live)
            if reason is not None:
                self._end(live, reason)
            elif (head := live.head()) is not None:
                seconds = live.job.ticket.elapsed()
                live.job.ticket.act(ActionHead(head.action, head.target, head.emotion, seconds))
                self._stats().count_action(live.request.tier, seconds)

    def _decode(self) -> float:
        """Decode the batch; returns the seconds it took."""
        started = time.perf_counter()
        try:
            self._ctx.decode(self._batch)
        finally:
            seconds = time.perf_counter() - started
            self._stats().count_decode(self._batch.n, seconds)
        return seconds

    def _use_adapters(self, group: AdapterKey) -> None:
        started = time.perf_counter()
        if self._ctx.set_adapters([(self._adapters[path], scale) for path, scale in group]):
            self._stats().adapter_switch_seconds.append(time.perf_counter() - started)

    def _end(self, live: Live, reason: str, detail: str = "") -> None:
        result = live.result(reason, live.job.ticket.elapsed(), detail)
        self._release(live)
        self._finish(live.job.ticket, result)

    def _release(self, live: Live) -> None:
        self.live.pop(live.seq_id, None)
        self._ctx.seq_remove(live.seq_id)
        live.sampler.close()
        self._free_slots.append(live.seq_id)
        self._reserved -= live.reserved
        if live.prefix is not None:
            live.prefix.users -= 1


def _invalid(request: DecisionRequest) -> str | None:
    if not request.allowed_actions:
        return "allowed_actions is empty"
    if request.max_tokens < 1:
        return "max_tokens must be at least 1"
    if not request.time_limit_s > 0:
        return "time_limit_s must be positive"
    return None
