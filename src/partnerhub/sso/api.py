"""``/v1/partner/identityProviders``: the partner's SAML IdPs and OIDC providers (hub API).

Scope ``partnerhub:admin``. A SAML IdP's id is an opaque ``SAMLIDP`` id, an OIDC provider's an
``OIDCIDP`` id; both live under the same path.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from partnerhub import ids
from partnerhub.errors import InvalidValue, NotFound, wire_names
from partnerhub.kit import openapi
from partnerhub.kit.pagination import Page, page_rows, paging
from partnerhub.kit.scope import Principal
from partnerhub.kit.web import api_principal, unit_of_work
from partnerhub.models import OidcProvider, SamlIdentityProvider
from partnerhub.sso import metadata, service
from partnerhub.sso.repository import IdpRepository
from partnerhub.sso.schemas import (
    WIRE,
    CertificateOut,
    IdentityProviderIn,
    IdentityProviderList,
    OidcProviderOut,
    SamlIdpOut,
    ServiceProviderOut,
)

router = APIRouter(prefix="/v1/partner/identityProviders", tags=["Identity providers"])
SAML_KIND = "SAMLIDP"
OIDC_KIND = "OIDCIDP"


def idp_id(idp: SamlIdentityProvider | OidcProvider) -> str:
    kind = SAML_KIND if isinstance(idp, SamlIdentityProvider) else OIDC_KIND
    return ids.encode(kind, idp.id, ids.HUB)


def present(idp: SamlIdentityProvider | OidcProvider) -> dict[str, Any]:
    out: SamlIdpOut | OidcProviderOut
    if isinstance(idp, SamlIdentityProvider):
        out = SamlIdpOut(
            id=idp_id(idp),
            entity_id=idp.entity_id,
            display_name=idp.display_name,
            metadata_url=idp.metadata_url,
            metadata_fetched=idp.metadata_fetched,
            sso_url=idp.sso_url,
            sso_binding=idp.sso_binding,
            want_authn_requests_signed=idp.want_authn_requests_signed,
            signing_certificates=[
                CertificateOut(**metadata.certificate_summary(pem))
                for pem in idp.signing_certificates
            ],
            email_attribute=idp.email_attribute,
            for_administrators=idp.for_administrators,
            domains=[claim.domain for claim in idp.claimed_domains],
            service_provider=ServiceProviderOut(
                entity_id=service.sp_entity_id(idp.partner_id),
                acs_url=service.acs_url(idp.partner_id),
                metadata_url=service.sp_entity_id(idp.partner_id),
            ),
            created=idp.created,
            updated=idp.updated,
        )
    else:
        out = OidcProviderOut(
            id=idp_id(idp),
            name=idp.name,
            issuer=idp.issuer,
            client_id=idp.client_id,
            client_secret_set=bool(idp.client_secret_encrypted),
            discovery_url=idp.discovery_url,
            scopes=idp.scopes,
            for_administrators=idp.for_administrators,
            domains=[claim.domain for claim in idp.claimed_domains],
            redirect_uri=service.oidc_redirect_uri(idp.partner_id),
            created=idp.created,
            updated=idp.updated,
        )
    return out.model_dump(by_alias=True, mode="json")


def _check_body(body: IdentityProviderIn) -> None:
    foreign = body.foreign_fields()
    if foreign:
        kind = "a SAML IdP" if body.type == "saml" else "an OpenID Connect provider"
        raise InvalidValue(f"{foreign[0]}: is not a field of {kind}", field=foreign[0])


def _decode(value: str) -> tuple[str, uuid.UUID] | None:
    for kind in (SAML_KIND, OIDC_KIND):
        decoded = ids.decode(kind, value)
        if decoded is not None:
            return kind, decoded
    return None


@router.get("", response_model=IdentityProviderList)
async def list_identity_providers(
    request: Request,
    response: Response,
    principal: Principal = Depends(api_principal),
    page: Page = Depends(paging(default=100, limit=1000)),
) -> dict[str, object]:
    async with unit_of_work(request) as session:
        saml_rows, oidc_rows = await service.list_all(IdpRepository(session, principal))
        rows: list[SamlIdentityProvider | OidcProvider] = [*saml_rows, *oidc_rows]
        items = [present(r) for r in page_rows(request, response, page, page.window(rows))]
    return {"items": items}


@router.post(
    "",
    status_code=201,
    response_model=SamlIdpOut | OidcProviderOut,
    responses={201: openapi.located("The identity provider")},
)
async def create_identity_provider(
    body: IdentityProviderIn, request: Request, principal: Principal = Depends(api_principal)
) -> JSONResponse:
    principal.require(service.ADMIN_SCOPE)
    _check_body(body)
    async with unit_of_work(request) as session:
        repo = IdpRepository(session, principal)
        with wire_names(WIRE):
            idp: SamlIdentityProvider | OidcProvider
            if body.type == "saml":
                idp = await service.create_saml(repo, body.saml())
            else:
                idp = await service.create_oidc(repo, body.oidc())
        out = present(idp)
    url = str(request.url_for("get_identity_provider", provider_id=out["id"]))
    return JSONResponse(out, status_code=201, headers={"Location": url})


async def _get(repo: IdpRepository, provider_id: str) -> SamlIdentityProvider | OidcProvider:
    decoded = _decode(provider_id)
    if decoded is None:
        repo.principal.require(service.ADMIN_SCOPE)
        raise NotFound("Identity provider not found")
    kind, value = decoded
    if kind == SAML_KIND:
        return await service.get_saml(repo, value)
    return await service.get_oidc(repo, value)


@router.get("/{provider_id}", response_model=SamlIdpOut | OidcProviderOut)
async def get_identity_provider(
    provider_id: str, request: Request, principal: Principal = Depends(api_principal)
) -> dict[str, Any]:
    async with unit_of_work(request) as session:
        return present(await _get(IdpRepository(session, principal), provider_id))


@router.put("/{provider_id}", response_model=SamlIdpOut | OidcProviderOut)
async def update_identity_provider(
    provider_id: str,
    body: IdentityProviderIn,
    request: Request,
    principal: Principal = Depends(api_principal),
) -> dict[str, Any]:
    principal.require(service.ADMIN_SCOPE)
    async with unit_of_work(request) as session:
        repo = IdpRepository(session, principal)
        current = await _get(repo, provider_id)
        is_saml = isinstance(current, SamlIdentityProvider)
        if (body.type == "saml") != is_saml:
            raise InvalidValue(
                f"type: '{body.type}' cannot change (this provider is "
                f"{'saml' if is_saml else 'oidc'})",
                field="type",
            )
        _check_body(body)
        with wire_names(WIRE):
            idp: SamlIdentityProvider | OidcProvider
            if is_saml:
                idp = await service.update_saml(repo, current.id, body.saml())
            else:
                idp = await service.update_oidc(repo, current.id, body.oidc())
        return present(idp)


@router.delete("/{provider_id}", status_code=204)
async def delete_identity_provider(
    provider_id: str, request: Request, principal: Principal = Depends(api_principal)
) -> Response:
    async with unit_of_work(request) as session:
        repo = IdpRepository(session, principal)
        current = await _get(repo, provider_id)
        if isinstance(current, SamlIdentityProvider):
            await service.delete_saml(repo, current.id)
        else:
            await service.delete_oidc(repo, current.id)
    return Response(status_code=204)
