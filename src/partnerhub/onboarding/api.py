"""``/v1/partner/templates``: onboarding templates over REST (hub extension)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from partnerhub import ids
from partnerhub.errors import wire_names
from partnerhub.kit import idempotency, openapi
from partnerhub.kit.pagination import Page, page_rows, paging
from partnerhub.kit.scope import Principal
from partnerhub.kit.web import api_principal, unit_of_work
from partnerhub.models import Template
from partnerhub.onboarding import service
from partnerhub.onboarding.repository import TemplateRepository
from partnerhub.onboarding.schemas import (
    WIRE_FIELDS,
    AuthenticationOut,
    EmailSettingsOut,
    TemplateIn,
    TemplateList,
    TemplateOut,
)

router = APIRouter(prefix="/v1/partner/templates", tags=["Onboarding templates"])


def template_id(template: Template) -> str:
    return ids.encode("TEMPLATE", template.id, ids.HUB)


async def present(repo: TemplateRepository, templates: list[Template]) -> list[TemplateOut]:
    emails = await repo.admin_emails({t.service_provider_admin_id for t in templates})
    counts = await repo.usage_counts([t.id for t in templates])
    return [
        TemplateOut(
            id=template_id(t),
            provisioning_id=t.provisioning_id,
            name=t.name,
            offer=t.offer,
            service_provider_admin_email=emails.get(t.service_provider_admin_id, ""),
            country=t.country,
            default_email_language=t.default_email_language,
            wholesale_subscription_id=t.wholesale_subscription_id,
            pstn_provider=t.pstn_provider,
            authentication=AuthenticationOut(
                method=t.auth_method, idp_entity_id=t.idp_entity_id, oidc_idp_name=t.oidc_idp_name
            ),
            email=EmailSettingsOut(
                brand_name=t.brand_name,
                allow_admin_invite_on_link=t.allow_admin_invite_on_link,
                allow_platform_calling=t.allow_platform_calling,
            ),
            data_region=t.data_region,
            require_approval=t.require_approval,
            customer_count=counts.get(t.id, 0),
            created=t.created,
            updated=t.updated,
        )
        for t in templates
    ]


def _dump(model: TemplateOut | TemplateList) -> dict[str, object]:
    return model.model_dump(by_alias=True, mode="json")


@router.get("", response_model=TemplateList)
async def list_templates(
    request: Request,
    response: Response,
    principal: Principal = Depends(api_principal),
    page: Page = Depends(paging(default=100, limit=1000)),
) -> dict[str, object]:
    async with unit_of_work(request) as session:
        repo = TemplateRepository(session, principal)
        rows = await service.list_templates(repo, page.offset, page.fetch)
        items = await present(repo, page_rows(request, response, page, rows))
    return _dump(TemplateList(items=items))


@router.post(
    "",
    status_code=201,
    response_model=TemplateOut,
    responses={201: openapi.located("The template")},
)
async def create_template(
    body: TemplateIn, request: Request, principal: Principal = Depends(api_principal)
) -> Response:
    async with unit_of_work(request) as session:
        replay = await idempotency.claim(session, request, principal)
        if replay is not None:
            return replay
        repo = TemplateRepository(session, principal)
        with wire_names(WIRE_FIELDS):
            template = await service.create(repo, body.to_data())
        (out,) = await present(repo, [template])
        url = str(request.url_for("get_template", template_id=out.id))
        response = JSONResponse(_dump(out), status_code=201, headers={"Location": url})
        await idempotency.remember(session, request, principal, response)
    return response


@router.get("/{template_id}", response_model=TemplateOut)
async def get_template(
    template_id: str, request: Request, principal: Principal = Depends(api_principal)
) -> dict[str, object]:
    async with unit_of_work(request) as session:
        repo = TemplateRepository(session, principal)
        template = await service.get(repo, ids.decode("TEMPLATE", template_id))
        (out,) = await present(repo, [template])
    return _dump(out)


@router.put("/{template_id}", response_model=TemplateOut)
async def update_template(
    template_id: str,
    body: TemplateIn,
    request: Request,
    principal: Principal = Depends(api_principal),
) -> dict[str, object]:
    async with unit_of_work(request) as session:
        repo = TemplateRepository(session, principal)
        with wire_names(WIRE_FIELDS):
            template = await service.update(
                repo, ids.decode("TEMPLATE", template_id), body.to_data()
            )
        (out,) = await present(repo, [template])
    return _dump(out)


@router.delete("/{template_id}", status_code=204)
async def delete_template(
    template_id: str, request: Request, principal: Principal = Depends(api_principal)
) -> Response:
    async with unit_of_work(request) as session:
        repo = TemplateRepository(session, principal)
        await service.delete(repo, ids.decode("TEMPLATE", template_id))
    return Response(status_code=204)
