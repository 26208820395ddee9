"""create_app(): the API, the portal, health checks and the OpenAPI document."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from partnerhub import __version__, jobs, runtime
from partnerhub.config import Settings, get_settings
from partnerhub.db import set_transaction_context
from partnerhub.identity import keys as identity_keys
from partnerhub.identity import service as identity_service
from partnerhub.kit import openapi, web
from partnerhub.ops import metrics, tracing
from partnerhub.partners import service as partners_service
from partnerhub.portal import render as portal_render
from partnerhub.portal import session as portal_session

log = logging.getLogger("partnerhub")
STATIC_DIR = Path(__file__).parent / "portal" / "static"


def create_app(
    settings: Settings | None = None, database_url: str | None = None, worker: bool = False
) -> FastAPI:
    """Build the ASGI app. ``database_url`` is the libpq URL (resolved by the caller)."""
    settings = settings or get_settings()
    if database_url is None:
        from partnerhub.db import database_url as resolve

        database_url = resolve(settings)
    url = database_url

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = runtime.init(settings, url)
        await jobs.open_app(url, prepared_statements=settings.database_prepared_statements)
        task: asyncio.Task[None] | None = None
        if worker:
            task = asyncio.create_task(jobs.run_configured_worker(settings))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await jobs.close_app()
            await runtime.close()
            tracing.shutdown()

    app = FastAPI(
        title="PartnerHub",
        version=__version__,
        summary="Self-hosted wholesale provisioning hub (Webex Wholesale API compatible)",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.database_url = url
    openapi.install(app)  # documents the contract's error responses (kit/openapi.py)

    # kit imports no domain package: the app plugs the domain's pieces in (kit/web.py).
    web.install(
        app,
        web.Plugins(
            authenticate=identity_service.authenticate_on,
            error_page=portal_render.error_page,
        ),
    )

    # The portal reads the signed-in administrator and the partner's state through the
    # domains, which render their pages through it (portal/session.py).
    portal_session.install(
        app,
        portal_session.Plugins(
            load_session=identity_service.admin_session,
            server_secret=identity_keys.server_secret,
            derive=identity_keys.derive,
            partner_suspended=partners_service.suspended_sub_partner,
        ),
    )

    @app.exception_handler(portal_session.LoginRequired)
    async def _login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, portal_session.LoginRequired)
        return portal_session.login_redirect(exc.next_url)

    @app.exception_handler(web.CsrfFailed)
    async def _csrf_failed(request: Request, exc: Exception) -> Response:
        return await portal_render.error_page(request, 403, portal_session.CSRF_MESSAGE)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Response:
        try:
            async with web.database(request).engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return web.error_response(request, 503, [("The database is unavailable", 1600)])
        return JSONResponse({"status": "ready"})

    from partnerhub.assistance import api as assistance_api
    from partnerhub.audit import api as audit_api
    from partnerhub.billing import api as billing_api
    from partnerhub.billing import views as billing_views
    from partnerhub.customer_portal import org_users_views
    from partnerhub.customer_portal import views as customer_portal_views
    from partnerhub.customers import api as customers_api
    from partnerhub.customers import views as customers_views
    from partnerhub.events import api as events_api
    from partnerhub.events import context as events_context
    from partnerhub.events import views as events_views
    from partnerhub.identity import api as identity_api
    from partnerhub.identity import portal_views
    from partnerhub.identity import views as identity_views
    from partnerhub.locations import api as locations_api
    from partnerhub.locations import views as locations_views
    from partnerhub.numbers import api as numbers_api
    from partnerhub.onboarding import api as onboarding_api
    from partnerhub.onboarding import views as onboarding_views
    from partnerhub.partners import api as partners_api
    from partnerhub.partners import settings_api as partner_settings_api
    from partnerhub.partners import sub_partner_views
    from partnerhub.partners import views as partners_views
    from partnerhub.setup import views as setup_views
    from partnerhub.sso import api as sso_api
    from partnerhub.sso import signin_views
    from partnerhub.sso import views as sso_views
    from partnerhub.subscribers import api as subscribers_api
    from partnerhub.subscribers import import_views as subscribers_import_views
    from partnerhub.subscribers import views as subscribers_views

    # The event triggers learn the actor and the TrackingID from each transaction's BEGIN.
    set_transaction_context(events_context.current)

    # The hot API routes first: routing tries the routers in order.
    app.include_router(subscribers_api.router)
    app.include_router(customers_api.router)
    app.include_router(onboarding_api.router)
    app.include_router(identity_api.router)
    app.include_router(identity_views.router)
    app.include_router(partners_api.router)
    app.include_router(billing_api.router)
    app.include_router(locations_api.router)
    app.include_router(numbers_api.router)
    app.include_router(subscribers_api.consent_router)
    app.include_router(subscribers_api.hub_router)
    app.include_router(subscribers_views.router)
    app.include_router(partner_settings_api.router)
    app.include_router(partners_views.router)
    app.include_router(sub_partner_views.router)
    app.include_router(billing_views.router)
    app.include_router(portal_views.router)
    app.include_router(onboarding_views.router)
    # after the templates pages: /customers/{id} must not catch /customers/templates
    app.include_router(customers_views.router)
    app.include_router(sso_api.router)
    app.include_router(sso_views.router)
    app.include_router(signin_views.router)
    # before the customer portal: its /org/{customer}/users/... pages are more specific
    app.include_router(setup_views.router)
    app.include_router(locations_views.router)
    app.include_router(org_users_views.router)
    app.include_router(subscribers_import_views.router)
    app.include_router(assistance_api.router)
    app.include_router(events_api.router)
    app.include_router(events_api.feed_router)
    app.include_router(events_views.router)
    app.include_router(customer_portal_views.router)
    app.include_router(audit_api.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # Innermost: tracking ids, 413 and 415 for every path, before routing.
    app.add_middleware(web.HttpGuard, max_body=settings.max_body_bytes)
    if settings.metrics_enabled() or settings.log_format == "json":
        # Outermost: the request's log context, its metrics, /metrics (ops/metrics.py).
        app.add_middleware(metrics.Observe, settings=settings)
    tracing.install(app, settings)  # OpenTelemetry, when configured (ops/tracing.py)
    return app
