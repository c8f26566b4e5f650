"""A submitted request's handle: what a caller waits on while the engine loop works.

The loop thread finishes tickets; any other thread (a Celery slot, an asyncio task via
`asyncio.wrap_future`) waits on `future`. A ticket is finished exactly once: a late
second outcome (a close racing a result) is ignored.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from models.llm.types import DecisionRequest, DecisionResult


@dataclass(slots=True, eq=False)
class Ticket:
    request: DecisionRequest
    submitted: float = field(default_factory=time.perf_counter)  # the request's clock starts
    future: Future[DecisionResult] = field(default_factory=Future)

    @property
    def request_id(self) -> str:
        return self.request.request_id

    def elapsed(self) -> float:
        return time.perf_counter() - self.submitted

    def finish(self, result: DecisionResult) -> None:
        if not self.future.done():
            self.future.set_result(result)
