"""Optional OpenTelemetry traces (``pip install 'partnerhub[otel]'``; docs/deployment.md).

On only when an OTLP endpoint is configured (``PARTNERHUB_OTEL_ENDPOINT`` or the standard
``OTEL_EXPORTER_OTLP_ENDPOINT``/``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``): then every request
(the instrumentation wraps the whole ASGI stack) and every psycopg
statement becomes a span, exported in batches over OTLP/HTTP. Off, nothing is imported and
nothing is wrapped.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from partnerhub.config import Settings

log = logging.getLogger(__name__)
_provider: Any = None


def endpoint(settings: Settings) -> str | None:
    return (
        settings.otel_endpoint
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or None
    )


def install(app: Any, settings: Settings, service: str = "partnerhub") -> bool:
    """Instrument ``app`` (a FastAPI app, or None for a worker) and psycopg; False when off
    or when the ``otel`` extra is missing (said once in the log)."""
    global _provider
    target = endpoint(settings)
    if not target:
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "OpenTelemetry endpoint set but the `otel` extra is not installed: "
            "pip install 'partnerhub[otel]'; no traces"
        )
        return False
    if _provider is None:
        exporter_endpoint = target
        if settings.otel_endpoint and not target.rstrip("/").endswith("/v1/traces"):
            exporter_endpoint = target.rstrip("/") + "/v1/traces"
        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or service})
        _provider = TracerProvider(resource=resource)
        _provider.add_span_processor(
            BatchSpanProcessor(
                OTLPSpanExporter(endpoint=exporter_endpoint if settings.otel_endpoint else None)
            )
        )
        trace.set_tracer_provider(_provider)
        PsycopgInstrumentor().instrument(enable_commenter=False)
    if app is not None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, tracer_provider=_provider, excluded_urls="/metrics")
    log.info("OpenTelemetry traces to %s", target)
    return True


def shutdown() -> None:
    """Flush the spans still waiting (at exit)."""
    if _provider is not None:
        _provider.shutdown()
