"""Traces: one interaction followed from its inbox entry to the decision it caused.

Off unless `otlp_endpoint` is set (or a test hands in an exporter): then every farm
process installs an OpenTelemetry tracer provider that exports over OTLP/HTTP, and
Celery's instrumentation carries the trace context in each message's headers, so
the ingest's span, the queue, the worker's task and what it does (memory, engine,
publish) are one trace. A bridge that sends a W3C `traceparent` with its event joins
the farm's spans to its own trace. Off, the API's no-op tracer is all there is:
`span()` returns a shared no-op, nothing is allocated per event.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import context, trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger(__name__)

TRACER = "npcfarm"
_PROPAGATOR = TraceContextTextMapPropagator()
_lock = threading.Lock()
_enabled = False
_provider: TracerProvider | None = None  # the SDK's, once set up


def enabled() -> bool:
    return _enabled


def setup(
    service: str,
    *,
    endpoint: str | None,
    exporter: Any = None,
    sample_ratio: float = 1.0,
) -> bool:
    """Install tracing for this process (idempotent); returns whether it is on.

    `exporter` (a SpanExporter) replaces OTLP, e.g. the in-memory one of the tests;
    spans are then exported as they end, not batched.
    """
    global _enabled, _provider
    if endpoint is None and exporter is None:
        return False
    with _lock:
        if _enabled:
            return True
        from opentelemetry.instrumentation.celery import CeleryInstrumentor  # noqa: PLC0415
        from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import (  # noqa: PLC0415
            BatchSpanProcessor,
            SimpleSpanProcessor,
        )
        from opentelemetry.sdk.trace.sampling import (  # noqa: PLC0415
            ParentBased,
            TraceIdRatioBased,
        )

        provider = TracerProvider(
            resource=Resource.create({"service.name": service}),
            sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
        )
        if exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
                OTLPSpanExporter,
            )

            url = endpoint.rstrip("/") if endpoint else ""
            if not url.endswith("/v1/traces"):
                url += "/v1/traces"
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
            log.info("traces of %s exported to %s", service, url)
        if _provider is None:  # the API's global may be set once per process
            trace.set_tracer_provider(provider)
        CeleryInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
        _provider, _enabled = provider, True
        return True


def disable() -> None:
    """Stop tracing in this process (tests that turned it on turn it off again)."""
    global _enabled
    with _lock:
        if not _enabled:
            return
        from opentelemetry.instrumentation.celery import CeleryInstrumentor  # noqa: PLC0415

        CeleryInstrumentor().uninstrument()  # type: ignore[no-untyped-call]
        shutdown()
        _enabled = False


def setup_process(service: str) -> bool:
    """`setup` from the settings (`otlp_endpoint`, `trace_sample_ratio`)."""
    from npcfarm.settings import get_settings  # noqa: PLC0415

    s = get_settings()
    return setup(service, endpoint=s.otlp_endpoint, sample_ratio=s.trace_sample_ratio)


def shutdown() -> None:
    """Flush what is buffered (a process that exits must not drop its last spans)."""
    if _provider is not None:
        _provider.shutdown()


def parent_of(traceparent: str | None) -> context.Context | None:
    """The context a bridge's `traceparent` names (None: start a new trace)."""
    if not _enabled or not traceparent:
        return None
    return _PROPAGATOR.extract({"traceparent": traceparent})


def traceparent() -> str | None:
    """The current span as a W3C `traceparent` (to hand on), None when not tracing."""
    if not _enabled:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


_NOOP = contextlib.nullcontext(trace.INVALID_SPAN)


def span(
    name: str,
    *,
    attributes: Mapping[str, str | int | float | bool] | None = None,
    parent: context.Context | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    start_ns: int | None = None,
) -> contextlib.AbstractContextManager[Span]:
    """A current span around a block; the shared no-op when tracing is off."""
    if not _enabled or _provider is None:
        return _NOOP
    return _provider.get_tracer(TRACER).start_as_current_span(
        name, context=parent, kind=kind, attributes=attributes, start_time=start_ns
    )


def record(
    name: str,
    *,
    start_ns: int,
    end_ns: int,
    attributes: Mapping[str, str | int | float | bool] | None = None,
    events: Mapping[str, int] | None = None,
) -> None:
    """A finished span under the current one, for work timed elsewhere (the engine's
    loop runs in its own thread: its times are recorded when the answer is in)."""
    if not _enabled or _provider is None:
        return
    s = _provider.get_tracer(TRACER).start_span(name, attributes=attributes, start_time=start_ns)
    for event, at_ns in (events or {}).items():
        s.add_event(event, timestamp=at_ns)
    s.end(end_time=end_ns)
