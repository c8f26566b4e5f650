"""The engine circuit breaker: opens after repeated failures, probes, closes again."""

from __future__ import annotations

import time

from tasks.breaker import BreakerState, CircuitBreaker


def _state(breaker: CircuitBreaker) -> BreakerState:
    return breaker.state  # read through a call: each check sees the state afresh


def test_opens_probes_and_closes() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown_s=0.05)
    for _ in range(2):
        assert breaker.allow()
        breaker.failed()
    assert _state(breaker) is BreakerState.CLOSED
    breaker.failed()
    assert _state(breaker) is BreakerState.OPEN and not breaker.allow()
    time.sleep(0.06)
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one probe at a time
    breaker.failed()  # the probe failed: open again, a new cool-down
    assert _state(breaker) is BreakerState.OPEN and not breaker.allow()
    time.sleep(0.06)
    assert breaker.allow()
    breaker.succeeded()
    assert _state(breaker) is BreakerState.CLOSED and breaker.allow()


def test_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(threshold=2, cooldown_s=10)
    breaker.failed()
    breaker.succeeded()
    breaker.failed()
    assert _state(breaker) is BreakerState.CLOSED
