"""The onboarding-template wizard over HTTP (S5-S12): steps in order, refusals that keep what
was typed and save nothing, Edit links from review, edit and delete of saved templates."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI

from partnerhub.db import Database
from partnerhub.models import Customer, Template
from partnerhub.onboarding import service
from partnerhub.portal import messages
from tests.conftest import portal_login
from tests.factories import Tenant, make_tenant
from tests.factories import create_template as api_template
from tests.portal.helpers import (
    WIZARD,
    browser_session,
    checked_radio,
    count,
    create_template,
    field_error,
    input_value,
    post_step,
    selected,
    snapshot,
    start_wizard,
    valid_steps,
    walk_to,
)


async def templates_of(db: Database) -> list[Template]:
    from sqlalchemy import select

    async with db.transaction() as session:
        return list((await session.execute(select(Template))).scalars())


async def test_full_wizard_saves_every_setting(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    await start_wizard(client)
    steps = valid_steps(tenant, data_region="EU")
    steps["core"]["require_approval"] = "on"
    steps["calling"] = {"pstn_provider": "PSTN Co"}
    steps["authentication"] = {"auth_method": "partner_oidc", "oidc_idp_name": "Okta"}
    steps["email"] = {"brand_name": "Acme Cloud", "allow_admin_invite_on_link": "on"}
    order = []
    for step, fields in steps.items():
        page = await client.get(f"{WIZARD}/{step}")
        assert page.status_code == 200
        response = await post_step(client, csrf, step, fields)
        assert response.status_code == 303, response.text
        order.append(response.headers["location"].rsplit("/", 1)[1])
    assert order == ["core", "calling", "authentication", "email", "review"]
    review = await client.get(f"{WIZARD}/review")
    for text in ("SMB Italy", "Italy", "Italian (Italy)", "Sub-1234", "PSTN Co", "Okta"):
        assert text in review.text, text
    for step in ("offer", "core", "calling", "authentication", "email"):
        assert f'href="{WIZARD}/{step}?return_to=review"' in review.text
    assert await count(db, "templates") == 0  # nothing is saved before Submit
    submitted = await post_step(client, csrf, "review")
    assert submitted.status_code == 303
    [template] = await templates_of(db)
    assert (template.name, template.country, template.default_email_language) == (
        "SMB Italy",
        "IT",
        "it_IT",
    )
    assert template.service_provider_admin_id == tenant.admin.id
    assert template.wholesale_subscription_id == "Sub-1234"
    assert template.pstn_provider == "PSTN Co"
    assert (template.auth_method, template.oidc_idp_name, template.idp_entity_id) == (
        "partner_oidc",
        "Okta",
        None,
    )
    assert template.brand_name == "Acme Cloud"
    assert template.allow_admin_invite_on_link is True
    assert template.allow_platform_calling is False
    assert template.data_region == "EU"
    assert template.require_approval is True
    page = await client.get(submitted.headers["location"])
    assert template.provisioning_id in page.text
    assert 'data-copy="#provisioning-id"' in page.text
    assert "The template was saved." in page.text
    # The wizard is finished: its state is gone.
    assert (await client.get(f"{WIZARD}/review")).headers["location"] == "/customers/templates/new"


async def test_steps_open_in_order(client: httpx.AsyncClient, tenant: Tenant) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    await start_wizard(client)
    jump = await client.get(f"{WIZARD}/review")
    assert jump.headers["location"] == f"{WIZARD}/offer"
    await post_step(client, csrf, "offer", {"offer": "wholesale"})
    jump = await client.get(f"{WIZARD}/email")
    assert jump.headers["location"] == f"{WIZARD}/core"
    early = await post_step(client, csrf, "email", {"brand_name": "B"})
    assert early.headers["location"] == f"{WIZARD}/core"
    first = await client.get(f"{WIZARD}/offer")
    assert first.status_code == 200
    assert ">Back<" not in first.text  # the first step cancels instead
    assert '<a class="button" href="/customers/templates">Cancel</a>' in first.text
    core = await client.get(f"{WIZARD}/core")
    assert f'<a class="button" href="{WIZARD}/offer">Back</a>' in core.text
    unknown = await client.get(f"{WIZARD}/nonsense")
    assert unknown.headers["location"] == "/customers/templates/new"


async def test_missing_name_keeps_what_was_typed(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    await walk_to(client, csrf, tenant, "core")
    before = await snapshot(db)
    fields = valid_steps(tenant)["core"] | {"name": "   ", "wholesale_subscription_id": "Sub-9"}
    response = await post_step(client, csrf, "core", fields)
    assert response.status_code == 400
    assert field_error(response.text, "name") == "Template name is required"
    assert 'aria-invalid="true" aria-describedby="name-error"' in response.text
    assert input_value(response.text, "wholesale_subscription_id") == "Sub-9"
    assert selected(response.text, "country") == "IT"
    assert selected(response.text, "default_email_language") == "it_IT"
    assert selected(response.text, "service_provider_admin_email") == tenant.admin.email
    assert await count(db, "templates") == 0
    assert (await snapshot(db))["templates"] == before["templates"]
    # The refused step is not accepted: the next one does not open.
    nxt = await client.get(f"{WIZARD}/calling")
    assert nxt.headers["location"] == f"{WIZARD}/core"
    # What was typed is still there when the page is opened again.
    again = await client.get(f"{WIZARD}/core")
    assert input_value(again.text, "wholesale_subscription_id") == "Sub-9"


async def test_unknown_country_is_refused(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    await walk_to(client, csrf, tenant, "core")
    fields = valid_steps(tenant)["core"] | {"country": "xx", "name": "Kept name"}
    response = await post_step(client, csrf, "core", fields)
    assert response.status_code == 400
    assert field_error(response.text, "country") == (
        "Country or region: 'XX' is not an ISO 3166-1 alpha-2 code"
    )
    assert selected(response.text, "country") == "XX"
    assert input_value(response.text, "name") == "Kept name"
    assert await count(db, "templates") == 0


async def test_unknown_admin_and_language_are_refused(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    await walk_to(client, csrf, tenant, "core")
    fields = valid_steps(tenant)["core"] | {
        "service_provider_admin_email": other_tenant.admin.email,
        "default_email_language": "xx_YY",
    }
    response = await post_step(client, csrf, "core", fields)
    assert response.status_code == 400
    assert "is not an administrator of this partner" in str(
        field_error(response.text, "service_provider_admin_email")
    )
    assert field_error(response.text, "default_email_language") == (
        "Default email language: 'xx_YY' is not a supported language"
    )


@pytest.mark.parametrize(
    ("method", "field", "message"),
    [
        (
            "partner_saml",
            "idp_entity_id",
            "IdP entity ID (from the IdP's SAML metadata) is required",
        ),
        ("partner_oidc", "oidc_idp_name", "OpenID Connect IdP name is required"),
    ],
)
async def test_partner_authentication_needs_its_identifier(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, method: str, field: str, message: str
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    await walk_to(client, csrf, tenant, "authentication")
    response = await post_step(client, csrf, "authentication", {"auth_method": method, field: " "})
    assert response.status_code == 400
    assert field_error(response.text, field) == message
    assert checked_radio(response.text, "auth_method") == method
    nxt = await client.get(f"{WIZARD}/email")
    assert nxt.headers["location"] == f"{WIZARD}/authentication"
    fixed = await post_step(
        client, csrf, "authentication", {"auth_method": method, field: "my-idp"}
    )
    assert fixed.headers["location"] == f"{WIZARD}/email"
    assert await count(db, "templates") == 0


async def test_unknown_pstn_provider_and_platform_calling_are_refused(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    await walk_to(client, csrf, tenant, "calling")
    page = await client.get(f"{WIZARD}/calling")
    assert "not recommended" in page.text
    assert '<option value="PSTN Co"' in page.text
    response = await post_step(client, csrf, "calling", {"pstn_provider": "Rogue Telecom"})
    assert response.status_code == 400
    assert field_error(response.text, "pstn_provider") == (
        "PSTN provider: 'Rogue Telecom' is not one of this partner's PSTN providers"
    )
    await post_step(client, csrf, "calling", {"pstn_provider": ""})
    await post_step(client, csrf, "authentication", {"auth_method": "platform"})
    email = await client.get(f"{WIZARD}/email")
    assert "allow_platform_calling" not in email.text  # wholesale offer only
    forced = await post_step(
        client, csrf, "email", {"brand_name": "B", "allow_platform_calling": "on"}
    )
    # A partner without both offers cannot switch it on, even with a hand-made form.
    assert forced.status_code == 400
    assert field_error(forced.text, "allow_platform_calling") == (
        "Platform-to-platform calls can be allowed only when both the wholesale and the "
        "hosted-calling offers are in use"
    )
    await post_step(client, csrf, "email", {"brand_name": "B"})
    review = await client.get(f"{WIZARD}/review")
    assert "Platform-to-platform calls" not in review.text


async def test_platform_calling_toggle_with_both_offers(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    both = await make_tenant(db, "Initech", hosted_calling=True)
    csrf = await portal_login(client, both.admin.email, both.password)
    await walk_to(client, csrf, both, "email")
    page = await client.get(f"{WIZARD}/email")
    assert 'name="allow_platform_calling"' in page.text
    assert 'name="allow_platform_calling" checked' not in page.text  # off by default
    await post_step(client, csrf, "email", {"brand_name": "B", "allow_platform_calling": "on"})
    await post_step(client, csrf, "review")
    [template] = await templates_of(db)
    assert template.allow_platform_calling is True


async def test_edit_link_from_review_returns_to_review_even_after_a_refusal(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    await walk_to(client, csrf, tenant, "review")
    page = await client.get(f"{WIZARD}/core?return_to=review")
    assert 'name="return_to" value="review"' in page.text
    assert "Save and return to review" in page.text
    assert input_value(page.text, "name") == "SMB Italy"
    fields = valid_steps(tenant)["core"] | {"name": "", "return_to": "review"}
    refused = await post_step(client, csrf, "core", fields)
    assert refused.status_code == 400
    assert 'name="return_to" value="review"' in refused.text
    assert "Save and return to review" in refused.text
    fields = valid_steps(tenant)["core"] | {"name": "SMB Italia", "return_to": "review"}
    saved = await post_step(client, csrf, "core", fields)
    assert saved.headers["location"] == f"{WIZARD}/review"
    review = await client.get(f"{WIZARD}/review")
    assert 'data-field="name">SMB Italia<' in review.text
    # An Edit that changes nothing also returns to review.
    auth = await post_step(
        client, csrf, "authentication", {"auth_method": "platform", "return_to": "review"}
    )
    assert auth.headers["location"] == f"{WIZARD}/review"
    assert await count(db, "templates") == 0


async def test_duplicate_name_is_refused_at_its_step_and_at_submit(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    await create_template(client, csrf, tenant, name="SMB Italy")
    # At its own step: the core settings are refused with the name's problem by its field
    await walk_to(client, csrf, tenant, "core")
    before = await snapshot(db)
    refused = await post_step(client, csrf, "core", valid_steps(tenant, name="smb italy")["core"])
    assert refused.status_code == 400
    assert field_error(refused.text, "name") == (
        "Template name: a template named 'smb italy' already exists"
    )
    assert (await snapshot(db))["templates"] == before["templates"]

    # A template created meanwhile (another administrator, the API) is still caught at Submit
    await walk_to(client, csrf, tenant, "review", name="SMB Race")
    await api_template(client, tenant, name="SMB Race")
    before = await snapshot(db)
    response = await post_step(client, csrf, "review")
    assert response.status_code == 409
    assert "Template name: a template named &#39;SMB Race&#39; already exists" in response.text
    assert 'class="review-section has-error" id="review-core"' in response.text
    assert (await snapshot(db))["templates"] == before["templates"]
    # Everything typed is kept: fix the name through Edit and submit again.
    fields = valid_steps(tenant)["core"] | {"name": "SMB Italy 2", "return_to": "review"}
    await post_step(client, csrf, "core", fields)
    done = await post_step(client, csrf, "review")
    assert done.status_code == 303
    names = sorted(t.name for t in await templates_of(db))
    assert names == ["SMB Italy", "SMB Italy 2", "SMB Race"]


async def test_edit_a_saved_template_keeps_its_provisioning_id(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    path = await create_template(client, csrf, tenant)
    [original] = await templates_of(db)
    edit = await client.get(f"{path}/edit")
    assert edit.headers["location"] == f"{WIZARD}/review"
    review = await client.get(f"{WIZARD}/review")
    assert "Edit template" in review.text
    assert "Save changes" in review.text
    step = await client.get(f"{WIZARD}/email?return_to=review")
    assert input_value(step.text, "brand_name") == "Acme Cloud"
    await post_step(client, csrf, "email", {"brand_name": "Acme Voice", "return_to": "review"})
    saved = await post_step(client, csrf, "review")
    assert saved.headers["location"] == f"{path}?saved=1"
    [changed] = await templates_of(db)
    assert changed.id == original.id
    assert changed.provisioning_id == original.provisioning_id
    assert changed.brand_name == "Acme Voice"


async def insert_customer(db: Database, tenant: Tenant, template_id: uuid.UUID) -> None:
    async with db.transaction() as session:
        session.add(
            Customer(
                id=uuid.uuid4(),
                partner_id=tenant.partner.id,
                template_id=template_id,
                provisioning_id="pid",
                external_id=f"ext-{uuid.uuid4().hex[:6]}",
                name="Customer",
                status="provisioned",
                data_region="EU",
            )
        )


async def test_delete_unused_template(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    path = await create_template(client, csrf, tenant)
    response = await client.post(f"{path}/delete", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert response.headers["location"] == "/customers/templates?deleted=1"
    assert await count(db, "templates") == 0
    listing = await client.get(response.headers["location"])
    assert "The template was deleted." in listing.text
    assert (await client.get(path)).status_code == 404


async def test_delete_of_a_template_in_use_is_refused(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    path = await create_template(client, csrf, tenant)
    [template] = await templates_of(db)
    await insert_customer(db, tenant, template.id)
    listing = await client.get("/customers/templates")
    assert "<td>1</td>" in listing.text  # number of customers using it
    before = await snapshot(db)
    response = await client.post(f"{path}/delete", data={"csrf_token": csrf})
    assert response.status_code == 409
    assert (
        "The template &#39;SMB Italy&#39; is used by 1 customer and cannot be deleted"
        in response.text
    )
    assert template.provisioning_id in response.text  # the template page, with the message
    assert await snapshot(db) == before


async def test_other_partner_gets_404(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    path = await create_template(client, csrf, tenant)
    async with browser_session(app) as intruder:
        other_csrf = await portal_login(intruder, other_tenant.admin.email, other_tenant.password)
        listing = await intruder.get("/customers/templates")
        assert "SMB Italy" not in listing.text
        before = await snapshot(db)
        for response in (
            await intruder.get(path),
            await intruder.get(f"{path}/edit"),
            await intruder.post(f"{path}/delete", data={"csrf_token": other_csrf}),
        ):
            assert response.status_code == 404, response.request.url
            assert "Onboarding template not found" in response.text
            assert "SMB Italy" not in response.text
        assert await snapshot(db) == before
    for bad in ("/customers/templates/not-an-id", "/customers/templates/not-an-id/edit"):
        assert (await client.get(bad)).status_code == 404


async def test_names_are_escaped(client: httpx.AsyncClient, tenant: Tenant) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    path = await create_template(client, csrf, tenant, name="<script>alert(1)</script>")
    for page in (await client.get(path), await client.get("/customers/templates")):
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


BAD_INPUTS: list[tuple[str, dict[str, object]]] = [
    ("offer", {"offer": "retail"}),
    ("core", {"name": ""}),
    ("core", {"name": "n" * 201}),
    ("core", {"service_provider_admin_email": ""}),
    ("core", {"service_provider_admin_email": "x@y.example"}),
    ("core", {"country": ""}),
    ("core", {"country": "ZZ"}),
    ("core", {"default_email_language": ""}),
    ("core", {"default_email_language": "xx"}),
    ("core", {"wholesale_subscription_id": ""}),
    ("core", {"wholesale_subscription_id": "s" * 101}),
    ("core", {"data_region": "MARS"}),
    ("calling", {"pstn_provider": "Nope"}),
    ("authentication", {"auth_method": "ldap"}),
    ("authentication", {"auth_method": "partner_saml"}),
    ("authentication", {"auth_method": "partner_saml", "idp_entity_id": "e" * 1025}),
    ("authentication", {"auth_method": "partner_oidc"}),
    ("authentication", {"auth_method": "partner_oidc", "oidc_idp_name": "o" * 201}),
    ("email", {"brand_name": ""}),
    ("email", {"brand_name": "b" * 201}),
    ("email", {"brand_name": "B", "allow_platform_calling": True}),
    ("authentication", {"auth_method": "partner_saml", "idp_entity_id": "https://other"}),
    ("authentication", {"auth_method": "partner_oidc", "oidc_idp_name": "Other"}),
]


@pytest.mark.parametrize(("step", "changes"), BAD_INPUTS)
async def test_portal_wording_matches_the_service(
    tenant: Tenant, db: Database, step: str, changes: dict[str, object]
) -> None:
    """Every refusal of a wizard step has its sentence in the portal's one catalogue of
    refusals (``portal.messages.MESSAGES``, by code and reason) whose English text is the
    service's own message, and an Italian one."""
    import dataclasses

    from partnerhub.onboarding.repository import TemplateRepository
    from partnerhub.onboarding.service import TemplateData

    base = TemplateData(
        name="N",
        service_provider_admin_email=tenant.admin.email,
        country="IT",
        default_email_language="it_IT",
        wholesale_subscription_id="S",
        brand_name="B",
    )
    for key, value in changes.items():
        setattr(base, key, value)
    async with db.transaction() as session:
        from partnerhub.identity.service import principal_for_admin

        repo = TemplateRepository(session, principal_for_admin(tenant.admin))
        ctx = await service.partner_context(repo)
    ctx = dataclasses.replace(ctx, saml_entity_ids=["https://idp"], oidc_names=["Okta"])
    problems = service.check_section(step, base, ctx)
    assert problems
    for problem in problems:
        assert f"{problem.code}/{problem.reason}" in messages.MESSAGES
        assert messages.describe(problem, "en") == problem.description
        italian = messages.describe(problem, "it")
        assert italian != problem.description or not italian.isascii()


async def test_name_taken_wording_matches_the_service(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    """The duplicate name (1202) is worded by the catalogue too, in English as the API says."""
    from partnerhub.identity.service import principal_for_admin
    from partnerhub.onboarding.repository import TemplateRepository

    await api_template(client, tenant, name="Taken")
    async with db.transaction() as session:
        repo = TemplateRepository(session, principal_for_admin(tenant.admin))
        problem = await service.name_problem(repo, "Taken")
    assert problem is not None
    assert messages.describe(problem, "en") == problem.description
    assert messages.describe(problem, "it") != problem.description


async def test_submit_checks_every_step_again(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    """A partner setting changed while the wizard was open: Submit refuses, saves nothing."""
    from partnerhub.models import Partner

    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    await walk_to(client, csrf, tenant, "review")
    await post_step(client, csrf, "calling", {"pstn_provider": "PSTN Co", "return_to": "review"})
    async with db.transaction() as session:
        partner = await session.get(Partner, tenant.partner.id)
        assert partner is not None
        partner.settings = {**partner.settings, "pstnProviders": []}
    response = await post_step(client, csrf, "review")
    assert response.status_code == 400
    assert "The template was not saved:" in response.text
    assert (
        "PSTN provider: &#39;PSTN Co&#39; is not one of this partner&#39;s PSTN providers"
        in response.text
    )
    assert 'class="review-section has-error" id="review-calling"' in response.text
    assert await count(db, "templates") == 0
