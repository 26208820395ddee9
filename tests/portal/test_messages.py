"""portal.messages: a refusal (error code + field + reason + parameters) worded for the reader,
in the reader's language, about the field the form shows; and the language a partner
administrator sees after signing in (issue 12, items 1-2)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from partnerhub.customers import rules
from partnerhub.customers import service as customers
from partnerhub.customers.schemas import CustomerInfoIn, LocationIn
from partnerhub.db import Database
from partnerhub.errors import ApiError, Conflict, InvalidValue, MissingField
from partnerhub.portal import i18n, messages
from partnerhub.subscribers import rules as subscriber_rules
from tests.conftest import csrf_of
from tests.factories import Tenant
from tests.portal.helpers import browser_session

ITALIAN = {"Accept-Language": "it-IT,it;q=0.9,en;q=0.5"}


def customer_problems(body: dict[str, object]) -> list[ApiError]:
    problems = rules.Problems()  # the rules read the API's input schemas, as the API does
    rules.check_customer_info(problems, CustomerInfoIn.model_validate(body.get("customerInfo")))
    packages = body.get("packages")
    rules.check_packages(problems, list(packages) if isinstance(packages, list) else None)
    location = body.get("location")
    if location is not None:
        rules.check_location(problems, LocationIn.model_validate(location))
    return list(problems)


def test_the_api_keeps_its_english_and_the_portal_words_it() -> None:
    problems = customer_problems(
        {
            "customerInfo": {"name": "Pizzeria", "primaryEmail": "non-una-email"},
            "packages": ["webex_meetings", "attendant_console"],
            "location": {
                "name": "Milano",
                "address": {
                    "addressLine1": "Via Roma 1",
                    "city": "Milano",
                    "zipOrPostalCode": "ABC",
                    "country": "IT",
                },
                "timezone": "Europe/Rome",
                "language": "it_IT",
                "numbers": ["12345"],
            },
        }
    )
    by_field = {p.field: p for p in problems}
    # the API's contract text is unchanged (English, with the wire path)
    assert by_field["customerInfo.primaryEmail"].description == (
        "customerInfo.primaryEmail: 'non-una-email' is not a valid email address"
    )

    def said(tail: str) -> str:
        return next(messages.describe(p, "it") for f, p in by_field.items() if tail in f)

    assert said("primaryEmail") == (
        "Email amministratore: 'non-una-email' non è un indirizzo email valido"
    )
    assert said("packages") == (
        "Pacchetti: Attendant Console richiede uno di questi pacchetti: "
        "Webex Calling, Webex Suite, Customer Assist"
    )
    assert said("zipOrPostalCode") == "CAP: 'ABC' non è valido per il paese Italia"
    assert said("numbers") == (
        "Numeri di telefono: '12345' non è un numero di telefono in formato internazionale "
        "(come +390212345678)"
    )
    for field, problem in by_field.items():
        for lang in ("it", "en"):
            said = messages.describe(problem, lang)
            assert not messages.WIRE_PATH.search(said), (field, said)
            assert "attendant_console" not in said and "webex_" not in said, said


@pytest.mark.parametrize(
    ("problem", "italian", "english"),
    [
        (
            MissingField("externalId: is required", field="externalId"),
            "ID cliente esterno: campo obbligatorio",
            "External customer ID: this field is required",
        ),
        (
            customers.external_id_taken("crm-77"),
            "ID cliente esterno: un altro dei tuoi clienti ha già questo ID",
            "External customer ID: another of your customers already has this ID",
        ),
        (
            InvalidValue(
                "provisioningParameters.packages.limits.webex_calling: -1 must be 0 or more",
                field="provisioningParameters.packages.limits.webex_calling",
                reason="negative",
                params={"value": -1},
            ),
            "Limite per Webex Calling: il numero deve essere 0 o maggiore",
            "Limit for Webex Calling: the number must be 0 or more",
        ),
        (
            subscriber_rules.AdminTier(
                "the package of a full administrator cannot be lowered "
                "('webex_suite' to 'webex_meetings')",
                field="package",
                reason="lowered",
                params={
                    "role": "full_admin",
                    "current": "webex_suite",
                    "package": "webex_meetings",
                },
            ),
            "Pacchetto: il pacchetto di questo utente (Amministratore completo) non può passare "
            "da Webex Suite a Webex Meetings, di livello inferiore",
            "Package: the package of this user (Full administrator) cannot be lowered from "
            "Webex Suite to Webex Meetings",
        ),
        (  # a code the catalogue has no sentence for, on a known field: the generic one
            InvalidValue(
                "provisioningParameters.calling.location.city: odd", code=1999, field="city"
            ),
            "Città: valore non accettato",
            "City: this value is not accepted",
        ),
        (  # no field, a description that is no message: the status's sentence, no English
            Conflict("A concurrent request changed the same customer; retry"),
            "Conflitto",
            "Conflict",
        ),
    ],
)
def test_each_refusal_in_each_language(problem: ApiError, italian: str, english: str) -> None:
    assert messages.describe(problem, "it") == italian
    assert messages.describe(problem, "en") == english


def test_a_translated_description_is_used_as_it_is() -> None:
    problem = ApiError("Import not found", status=404)
    assert messages.describe(problem, "it") == "Importazione non trovata"


def test_plural_forms_come_from_the_catalog() -> None:
    italian = i18n.translations("it")
    one = "The template '%(name)s' is used by %(count)s customer and cannot be deleted"
    many = "The template '%(name)s' is used by %(count)s customers and cannot be deleted"
    assert italian.ngettext(one, many, 1) % {"name": "T", "count": 1} == (
        "Il modello 'T' è usato da 1 cliente e non può essere eliminato"
    )
    assert italian.ngettext(one, many, 3) % {"name": "T", "count": 3} == (
        "Il modello 'T' è usato da 3 clienti e non può essere eliminato"
    )


async def sign_in(client: httpx.AsyncClient, tenant: Tenant) -> httpx.Response:
    page = await client.get("/login", headers=ITALIAN)
    response = await client.post(
        "/login",
        data={
            "csrf_token": csrf_of(page.text),
            "email": tenant.admin.email,
            "password": tenant.password,
            "next": "/customers",
        },
        headers=ITALIAN,
    )
    assert response.status_code == 303, response.text
    return await client.get("/customers", headers=ITALIAN)


async def test_an_italian_browser_stays_italian_after_sign_in(
    app: FastAPI, db: Database, tenant: Tenant
) -> None:
    async with browser_session(app) as client:
        page = await sign_in(client, tenant)
        assert '<html lang="it">' in page.text
        assert (
            '<html lang="it">'
            in (await client.get("/settings/administrators", headers=ITALIAN)).text
        )
    async with db.transaction() as session:
        stored = await session.scalar(
            text("SELECT language FROM partner_admins WHERE id = :id"), {"id": tenant.admin.id}
        )
    assert stored is None  # nothing was chosen: the browser's language is followed


async def test_the_language_picked_wins_and_is_remembered(app: FastAPI, tenant: Tenant) -> None:
    async with browser_session(app) as client:
        page = await sign_in(client, tenant)
        picked = await client.post(
            "/language",
            data={"csrf_token": csrf_of(page.text), "lang": "en", "next": "/customers"},
            headers=ITALIAN,
        )
        assert picked.status_code == 303
        assert '<html lang="en">' in (await client.get("/customers", headers=ITALIAN)).text
    async with browser_session(app) as client:  # a new session, the same Italian browser
        page = await sign_in(client, tenant)
        assert '<html lang="en">' in page.text


async def test_administrator_form_refusals_next_to_their_fields(
    app: FastAPI, tenant: Tenant
) -> None:
    """What a browser would not even send (its own checks), the server still words in
    Italian next to the field, keeping what was typed."""
    async with browser_session(app) as client:
        page = await sign_in(client, tenant)
        form = {
            "csrf_token": csrf_of(page.text),
            "email": "nessuna-chiocciola",
            "display_name": "Giulia",
            "role": "admin",
            "password": "long-enough-password",
        }
        bad_email = await client.post("/settings/administrators", data=form, headers=ITALIAN)
        assert bad_email.status_code == 400
        assert (
            '<p class="field-error" id="email-error" role="alert">Indirizzo email: '
            "&#39;nessuna-chiocciola&#39; non è un indirizzo email valido</p>"
        ) in bad_email.text
        assert 'aria-invalid="true" aria-describedby="email-error"' in bad_email.text
        assert 'value="Giulia"' in bad_email.text
        short = await client.post(
            "/settings/administrators",
            data={**form, "email": "giulia@acme.example", "password": "short"},
            headers=ITALIAN,
        )
        assert short.status_code == 400
        assert (
            '<p class="field-error" id="password-error" role="alert">Password: almeno 12 '
            "caratteri</p>"
        ) in short.text
        assert "password:" not in short.text  # never the API's wording


ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


@pytest.mark.parametrize(
    ("headers", "private", "malformed", "unknown"),
    [
        (
            ITALIAN,
            "URL di destinazione: 10.0.0.7 è un indirizzo privato, locale o riservato; "
            "PartnerHub invia solo a indirizzi pubblici",
            "URL di destinazione: sono accettati solo URL http e https",
            "Webhook non trovato",
        ),
        (
            ENGLISH,
            "Target URL: 10.0.0.7 is a private, local or reserved address; PartnerHub posts "
            "only to public addresses",
            "Target URL: only http and https URLs are accepted",
            "Webhook not found",
        ),
    ],
)
async def test_webhook_form_refusals_in_the_readers_language(
    app: FastAPI,
    db: Database,
    tenant: Tenant,
    headers: dict[str, str],
    private: str,
    malformed: str,
    unknown: str,
) -> None:
    """A private or malformed target URL is refused next to the Target URL field, in the
    portal's language (never the API's ``targetUrl: ...``), keeping what was typed; nothing
    is written."""
    before = app.state.settings.webhook_allow_private_addresses
    app.state.settings.webhook_allow_private_addresses = False
    try:
        async with browser_session(app) as client:
            page = await client.get("/login", headers=headers)
            signed = await client.post(
                "/login",
                data={
                    "csrf_token": csrf_of(page.text),
                    "email": tenant.admin.email,
                    "password": tenant.password,
                    "next": "/webhooks",
                },
                headers=headers,
            )
            assert signed.status_code == 303, signed.text
            page = await client.get("/webhooks", headers=headers)
            form = {
                "csrf_token": csrf_of(page.text),
                "name": "Gestionale",
                "resource": "wholesaleCustomers",
                "event": "all",
                "filter": "",
                "secret": "",
            }
            for url, expected in (
                ("http://10.0.0.7/hook", private),
                ("ftp://hooks.example/x", malformed),
            ):
                refused = await client.post(
                    "/webhooks", data={**form, "target_url": url}, headers=headers
                )
                assert refused.status_code == 400
                shown = expected.replace("'", "&#39;")
                assert (
                    f'<p class="field-error" id="targetUrl-error" role="alert">{shown}</p>'
                    in refused.text
                )
                assert 'aria-invalid="true" aria-describedby="targetUrl-error"' in refused.text
                assert f'value="{url}"' in refused.text
                assert "targetUrl:" not in refused.text  # never the API's wording
            missing = await client.get("/webhooks/not-a-webhook", headers=headers)
            assert missing.status_code == 404
            assert unknown in missing.text
    finally:
        app.state.settings.webhook_allow_private_addresses = before
    async with db.transaction() as session:
        assert await session.scalar(text("SELECT count(*) FROM webhooks")) == 0


def test_a_failed_delivery_attempt_is_said_in_the_readers_words() -> None:
    """The webhook page says why an attempt got no answer in the portal's language; the
    stored technical cause (English) is only the tooltip."""
    from partnerhub.events.views import attempt_error
    from partnerhub.kit import outbound

    italian = i18n.translations("it")
    refused = str(outbound.AddressRefused("hooks.example", "10.0.0.7", "private or reserved"))
    assert italian.gettext(attempt_error(refused)) == "Rifiutato: l'indirizzo non è pubblico"
    assert italian.gettext(attempt_error(str(outbound.DeadlineExceeded(10)))) == (
        "Nessuna risposta completa in tempo"
    )
    assert italian.gettext(attempt_error("ConnectError: [Errno 111] Connection refused")) == (
        "Nessuna risposta: la connessione non è riuscita"
    )
    assert attempt_error(None) == ""
