"""Every portal page (partner portal and customer portal) and every e-mail, in Italian: no
message without its translation (the catalog's lookups are recorded while each page renders),
no English fallback, no wire path (``customerInfo.primaryEmail``) and no package id
(``webex_calling``) in the visible text (issue 12, acceptance b).

The pages are found by following every same-site link from the pages without parameters,
starting from an Italian browser that never picked a language; the test then checks that
every GET route of the portal was rendered at least once (the routes that need a secret
link are rendered with a wrong one: their refusal page is checked the same way).
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Iterable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from jinja2 import meta

from partnerhub.catalog import packages
from partnerhub.db import Database
from partnerhub.notifications import service as notifications
from partnerhub.portal import i18n
from partnerhub.portal.messages import WIRE_PATH
from tests.conftest import csrf_of
from tests.factories import (
    USER_PASSWORD,
    Tenant,
    give_password,
    make_customer,
    make_org,
    make_tenant,
    number,
)
from tests.portal.helpers import BASE

ITALIAN = {"Accept-Language": "it-IT,it;q=0.9,en;q=0.5"}
PACKAGE_ID = re.compile(r"\b(?:" + "|".join(map(re.escape, packages.PACKAGES)) + r")\b")
HREF = re.compile(r'href="(/[^"#?]*)')
# GET routes that are not pages of a signed-in session, each with why it is reached otherwise.
NOT_CRAWLED = {
    "/healthz": "health check (JSON)",
    "/readyz": "health check (JSON)",
    "/billing/{report_ref}/download": "a CSV file",
    "/billing/reports": "a fragment refreshed by script (crawled through /billing)",
    "/sso/saml/{partner_ref}/metadata": "SAML metadata (XML)",
    "/sso/saml/{partner_ref}/login": "a redirect to the partner's IdP",
    "/sso/oidc/{partner_ref}/login": "a redirect to the partner's IdP",
    "/sso/oidc/{partner_ref}/callback": "the IdP's answer (checked with a wrong one below)",
    "/customers/{customer_id}/setup/imports/{import_id}": "needs an import (below: a wrong id)",
    "/customers/{customer_id}/setup/imports/{import_id}/progress": "as above (fragment)",
    "/customers/{customer_id}/setup/imports/{import_id}/result": "a CSV file",
    "/sub-partners/{sub_ref}/{action}": "confirmation pages (below)",
}
SECRET_LINKS = (  # rendered with a wrong secret: the refusal page must be Italian too
    "/consent/not-a-token",
    "/account/admin-password/not-a-token",
    "/account/set-password/not-a-token",
    "/account/reset-password/not-a-token",
    "/signin",
    "/signin/forgot",
    "/signin/done",
    "/signin/totp",
    "/login",
)


def english_sentences() -> list[str]:
    """The catalog's English messages of three words or more whose Italian differs: none of
    them may show on an Italian page (text shown without passing through the catalog)."""
    italian = i18n.translations("it")
    assert isinstance(italian, i18n.CatalogTranslations)
    return [
        msgid
        for msgid, text in italian._messages.items()
        if text != msgid and "%" not in msgid and len(msgid.split()) >= 3
    ]


ENGLISH = english_sentences()


def visible_text(page: str) -> str:
    """What a reader sees: the page without its tags, scripts and styles."""
    body = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", page)
    body = re.sub(r"(?s)<[^>]+>", " ", body)
    return re.sub(r"\s+", " ", htmllib.unescape(body))


def problems_of(url: str, response: httpx.Response, misses: list[str]) -> list[str]:
    out = [f"{url}: no Italian for {m!r}" for m in dict.fromkeys(misses)]
    if "text/html" not in response.headers.get("content-type", ""):
        return out
    if "<html" in response.text and '<html lang="it">' not in response.text:  # not a fragment
        out.append(f"{url}: not rendered in Italian")
    text = visible_text(response.text)
    out += [f"{url}: wire path {m!r} shown" for m in WIRE_PATH.findall(text)]
    out += [f"{url}: package id {m!r} shown" for m in PACKAGE_ID.findall(text)]
    out += [f"{url}: English {m!r} shown" for m in ENGLISH if m in text]
    return out


async def visit(client: httpx.AsyncClient, url: str) -> tuple[httpx.Response, list[str]]:
    with i18n.recording_misses() as misses:
        response = await client.get(url, headers=ITALIAN)
    assert response.status_code < 500, f"{url}: {response.status_code}"
    return response, list(misses)


async def crawl(
    client: httpx.AsyncClient, start: Iterable[str], limit: int = 200
) -> tuple[dict[str, int], list[str]]:
    """Every same-site page reachable from *start*; ``({path: status}, problems)``."""
    queue, seen, problems = list(start), {}, []  # type: ignore[var-annotated]
    while queue and len(seen) < limit:
        url = queue.pop(0)
        if url in seen or url.startswith("/static") or url.startswith("/v1"):
            continue
        response, misses = await visit(client, url)
        seen[url] = response.status_code
        problems += problems_of(url, response, misses)
        if "text/html" in response.headers.get("content-type", ""):
            queue += [h for h in HREF.findall(response.text) if h not in seen]
        location = response.headers.get("location", "")
        if response.is_redirect and location.startswith("/"):
            queue.append(location.split("?")[0])
    return seen, problems


def portal_routes(app: FastAPI) -> list[str]:
    """The path of every GET route outside the API (the portal's pages)."""
    found: list[str] = []

    def walk(routes: Iterable[Any], prefix: str = "") -> None:
        for route in routes:
            if hasattr(route, "original_router"):
                walk(route.original_router.routes, prefix)
            elif isinstance(route, APIRoute) and "GET" in route.methods:
                if not route.include_in_schema:
                    found.append(prefix + route.path)

    walk(app.router.routes)
    return found


def route_pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)) + "$")


@pytest.fixture
async def world(db: Database, tenant: Tenant) -> dict[str, Any]:
    setup = await make_customer(
        db,
        tenant,
        numbers=[number(i) for i in range(1, 4)],
        admin_package="webex_suite",
        limits={"webex_calling": 10},
    )
    await make_tenant(db, "Sub Acme", parent=tenant.partner)
    return {"setup": setup}


async def test_every_portal_page_is_italian(
    app: FastAPI, client: httpx.AsyncClient, db: Database, tenant: Tenant, world: dict[str, Any]
) -> None:
    setup = world["setup"]
    # an Italian browser signs in without choosing a language
    login = await client.get("/login", headers=ITALIAN)
    signed = await client.post(
        "/login",
        data={
            "csrf_token": csrf_of(login.text),
            "email": tenant.admin.email,
            "password": tenant.password,
            "next": "/",
        },
        headers=ITALIAN,
    )
    assert signed.status_code == 303
    csrf = csrf_of((await client.get("/customers", headers=ITALIAN)).text)
    # history, an e-mail in the outbox and a user in the customer's list, made in the portal
    await client.get(f"/customers/{setup.id}/setup/users", headers=ITALIAN)
    sent = await client.post(
        f"/customers/{setup.id}/setup/assistance",
        data={
            "csrf_token": csrf,
            "contact_name": "Maria Rossi",
            "contact_email": "maria@cliente.example",
        },
        headers=ITALIAN,
    )
    assert sent.status_code == 303, sent.text
    # a second location (the headquarters has no delete page) and a webhook, made in the portal
    branch = await client.post(
        f"/customers/{setup.id}/locations/new",
        data={
            "csrf_token": csrf,
            "name": "Filiale di Roma",
            "country": "IT",
            "address1": "Via del Corso 10",
            "city": "Roma",
            "state": "IT-RM",
            "postal_code": "00186",
            "time_zone": "Europe/Rome",
            "preferred_language": "it_IT",
        },
        headers=ITALIAN,
    )
    assert branch.status_code == 303, branch.text
    hook = await client.post(
        "/webhooks",
        data={
            "csrf_token": csrf,
            "name": "Gestionale",
            "target_url": "https://hooks.example/partnerhub",
            "resource": "wholesaleCustomers",
            "event": "all",
        },
        headers=ITALIAN,
    )
    assert hook.status_code == 303, hook.text
    routes = portal_routes(app)
    start = [r for r in routes if "{" not in r and r not in NOT_CRAWLED]
    start = [f"/customers/{setup.id}", f"/org/{setup.id}/users", *start]
    seen, problems = await crawl(client, start)
    sub = next(p for p in seen if re.fullmatch(r"/sub-partners/[^/]+", p))
    for extra in (
        f"/customers/{setup.id}/status",
        f"/org/{setup.id}",
        f"/org/{setup.id}/account",
        f"{sub}/suspend",
        f"{sub}/reactivate",
        f"/customers/{setup.id}/setup/imports/not-an-import",
        "/customers/wizard/customer",
        "/customers/templates/wizard/offer",
    ):
        response, misses = await visit(client, extra)
        seen[extra] = response.status_code
        problems += problems_of(extra, response, misses)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as anon:
        for url in SECRET_LINKS:
            response, misses = await visit(anon, url)
            seen[url] = response.status_code
            problems += problems_of(url, response, misses)
    assert len(seen) >= 40, sorted(seen)  # the crawl really went through the portal
    assert not problems, "\n".join(problems)
    missing = [
        r
        for r in routes
        if r not in NOT_CRAWLED and not any(route_pattern(r).match(p) for p in seen)
    ]
    assert not missing, f"portal pages never rendered: {missing}"


async def test_customer_portal_pages_are_italian(
    app: FastAPI, db: Database, tenant: Tenant
) -> None:
    """The customer's own administrator, signed in from an Italian browser."""
    _customer, user = await make_org(db, tenant, name="Trattoria")
    await give_password(db, user)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        page = await c.get("/signin", headers=ITALIAN)
        signed = await c.post(
            "/signin/password",
            data={
                "csrf_token": csrf_of(page.text),
                "email": user.email,
                "password": USER_PASSWORD,
                "next": "/org",
            },
            headers=ITALIAN,
        )
        assert signed.status_code == 303, signed.text
        seen, problems = await crawl(c, ["/org"])
    assert not problems, "\n".join(problems)
    assert any(re.fullmatch(r"/org/[^/]+/account", p) for p in seen), seen
    assert any(re.fullmatch(r"/org/[^/]+/emails", p) for p in seen), seen


def test_every_email_has_an_italian_version() -> None:
    """Every e-mail kind has an Italian text and HTML version, really in Italian (not the
    English one copied), and shows no wire path or package id."""
    env = notifications._env()
    kinds = sorted(p.name for p in notifications.TEMPLATE_DIR.iterdir() if p.is_dir())
    assert len(kinds) >= 5
    for kind in kinds:
        assert "it" in notifications.languages(kind), f"{kind}: no Italian version"
        for ext in ("txt", "html"):
            source = env.loader.get_source(env, f"{kind}/it.{ext}")[0]  # type: ignore[union-attr]
            english = env.loader.get_source(env, f"{kind}/en.{ext}")[0]  # type: ignore[union-attr]
            names = meta.find_undeclared_variables(env.parse(source))
            context = {n: Sample(n) for n in names}
            shown = env.get_template(f"{kind}/it.{ext}").render(context)
            same = set(_lines(source)) & set(_lines(english))
            assert not same, f"{kind}/it.{ext}: English lines left: {sorted(same)}"
            text = visible_text(shown) if ext == "html" else shown
            assert not WIRE_PATH.findall(text), f"{kind}/it.{ext}: {WIRE_PATH.findall(text)}"
            assert not PACKAGE_ID.findall(text), f"{kind}/it.{ext}"


def _lines(source: str) -> list[str]:
    """The lines of a template that are words (not only markup or values)."""
    out = []
    for line in source.splitlines():
        words = re.sub(r"{[{%].*?[}%]}|<[^>]+>", " ", line)
        if len(re.findall(r"[A-Za-zÀ-ÿ]{3,}", words)) >= 3:
            out.append(line.strip())
    return out


class Sample(str):
    """A stand-in for any value a template reads: text, a list, an object with attributes."""

    def __new__(cls, name: str) -> Sample:
        return super().__new__(cls, f"Esempio {name}")

    def __getattr__(self, name: str) -> Sample:
        return Sample(name)

    def __iter__(self) -> Any:
        return iter([str(self)])

    def __call__(self, *args: Any, **kwargs: Any) -> Sample:
        return self


def test_catalog_names_are_marked_for_translation() -> None:
    """Every package and role name the pages show is in messages.CATALOG_LABELS (extracted,
    so translated), and nothing else is."""
    from partnerhub.catalog import customer_roles, roles
    from partnerhub.portal import messages

    names = {p.label for p in packages.PACKAGES.values()}
    names |= {r.label for r in roles.PARTNER_ROLES.values()}
    names |= {r.label for r in customer_roles.CUSTOMER_ROLES.values()}
    names |= {r.description for r in customer_roles.CUSTOMER_ROLES.values()}
    assert set(messages.CATALOG_LABELS) == names


def test_one_term_per_concept() -> None:
    """The seed's words: "all'ingrosso" (never "wholesale"), "sede" for a location (the seed's
    own "posizione supportata" and "Posizione della sede centrale" aside), and plurals through
    ngettext (no "cliente/i")."""
    from babel.messages.pofile import read_po

    from tests.portal.test_i18n import CATALOG

    with CATALOG.open("rb") as fh:
        catalog = read_po(fh, locale="it")
    seed = ("posizione supportata", "Posizione della sede centrale")
    wrong = []
    for message in catalog:
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in forms:
            text = str(text or "")
            for phrase in seed:
                text = text.replace(phrase, "")
            if re.search(r"(?i)wholesale|posizion|\w/i\b|\w\(i\)", text):
                wrong.append(f"{message.id!r}: {text!r}")
    assert not wrong, "\n".join(wrong)
