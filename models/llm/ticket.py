"""A submitted request's handle: what a caller waits on while the engine loop works.

The loop thread finishes tickets; any other thread (a Celery slot, an asyncio task via
`asyncio.wrap_future`) waits on `future`. A ticket is finished exactly once: a late
second outcome (a close racing a result) is ignored.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from models.llm.types import ActionHead, DecisionRequest, DecisionResult


@dataclass(slots=True, eq=False)
class Ticket:
    """`action` resolves when action, target and emotion are decoded (the speech may still
    be generating); `future` when the whole decision is. An error resolves both."""

    request: DecisionRequest
    submitted: float = field(default_factory=time.perf_counter)  # the request's clock starts
    started: float | None = None  # perf_counter when it got a sequence slot (out of the queue)
    future: Future[DecisionResult] = field(default_factory=Future)
    action: Future[ActionHead | None] = field(default_factory=Future)

    @property
    def request_id(self) -> str:
        return self.request.request_id

    def elapsed(self) -> float:
        return time.perf_counter() - self.submitted

    def act(self, head: ActionHead) -> None:
        if not self.action.done():
            self.action.set_result(head)

    def finish(self, result: DecisionResult) -> None:
        if not self.action.done():  # ended before its speech key: the whole result is the head
            head = None
            if result.action is not None and result.emotion is not None:
                head = ActionHead(result.action, result.target, result.emotion, result.seconds)
            self.action.set_result(head)
        if not self.future.done():
            self.future.set_result(result)
