"""Portal translations: the Italian catalog covers every message, and the language switch works."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from fastapi import FastAPI

from partnerhub.db import Database
from partnerhub.portal import i18n
from tests.conftest import csrf_of, portal_login
from tests.factories import Tenant
from tests.portal.helpers import (
    WIZARD,
    browser_session,
    create_template,
    field_error,
    post_step,
    valid_steps,
    walk_to,
)

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "src/partnerhub/portal/locale/it/LC_MESSAGES/messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def source_messages() -> dict[str, str]:
    """msgid → where it was found, extracted from the sources exactly as babel.cfg says."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map
    ):
        # a plural message (ngettext) is one catalog entry, keyed by its singular
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def test_every_message_has_an_italian_translation() -> None:
    found = source_messages()
    assert len(found) > 100  # the extraction really ran over views and templates
    assert "Onboarding templates" in found
    assert "Wrong email or password" in found  # from a Python view
    assert "Template name is required" in found  # a service refusal worded by the portal
    with CATALOG.open("rb") as fh:
        catalog = read_po(fh, locale="it")
    untranslated = []
    for msgid, where in sorted(found.items()):
        message = catalog.get(msgid)
        forms = message.string if message is not None else None
        if (
            message is None
            or not forms
            or message.fuzzy
            or (isinstance(forms, tuple | list) and not all(forms))
        ):
            untranslated.append(f"{where}: {msgid!r}")
    assert not untranslated, "missing Italian translations:\n" + "\n".join(untranslated)


def test_translations_keep_their_placeholders() -> None:
    with CATALOG.open("rb") as fh:
        catalog = read_po(fh, locale="it")
    for message in catalog:
        if message.id and message.string:
            assert sorted(PLACEHOLDER.findall(str(message.id))) == sorted(
                PLACEHOLDER.findall(str(message.string))
            ), message.id


def test_catalog_is_loaded() -> None:
    italian = i18n.translations("it")
    assert italian.gettext("Onboarding templates") == "Modelli di onboarding"
    assert i18n.translations("en").gettext("Onboarding templates") == "Onboarding templates"
    assert i18n.negotiate("it-IT,it;q=0.9,en;q=0.8") == "it"
    assert i18n.negotiate("fr-FR,de;q=0.5") == "en"


async def switch_to_italian(client: httpx.AsyncClient, csrf: str, next_url: str) -> None:
    response = await client.post(
        "/language", data={"csrf_token": csrf, "lang": "it", "next": next_url}
    )
    assert response.status_code == 303
    assert response.headers["location"] == next_url


async def test_language_switch_shows_italian(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    await switch_to_italian(client, csrf, "/customers/templates")
    page = await client.get("/customers/templates")
    assert '<html lang="it">' in page.text
    for text in ("Modelli di onboarding", "Crea modello", "Clienti", "Esci", "ID di provisioning"):
        assert text in page.text, text
    assert "Create template" not in page.text
    # The wizard, its country and language names, and its refusals are Italian too.
    await walk_to(client, csrf, tenant, "core")
    core = await client.get(f"{WIZARD}/core")
    assert "Impostazioni principali" in core.text
    assert ">Italia</option>" in core.text
    assert "Italiano (Italia)" in core.text
    refused = await post_step(client, csrf, "core", valid_steps(tenant)["core"] | {"name": ""})
    assert field_error(refused.text, "name") == "Il nome del modello è obbligatorio"
    refused = await post_step(client, csrf, "core", valid_steps(tenant)["core"] | {"country": "QQ"})
    assert field_error(refused.text, "country") == (
        "Paese o regione: 'QQ' non è un codice ISO 3166-1 alpha-2"
    )
    # The choice is the administrator's: a new session starts in Italian.
    client.cookies.clear()
    await portal_login(client, tenant.admin.email, tenant.password)
    assert "Modelli di onboarding" in (await client.get("/customers/templates")).text


async def test_language_chosen_before_sign_in_is_kept(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    login = await client.get("/login")
    await switch_to_italian(client, csrf_of(login.text), "/login")
    page = await client.get("/login")
    assert "Accedi a PartnerHub" in page.text
    response = await client.post(
        "/login",
        data={
            "csrf_token": csrf_of(page.text),
            "email": tenant.admin.email,
            "password": "wrong",
        },
    )
    assert response.status_code == 401
    assert "Email o password errate" in response.text
    response = await client.post(
        "/login",
        data={
            "csrf_token": csrf_of(page.text),
            "email": tenant.admin.email,
            "password": tenant.password,
        },
    )
    assert response.status_code == 303
    assert "Modelli di onboarding" in (await client.get("/customers/templates")).text


async def test_browser_language_is_the_default(app: FastAPI) -> None:
    async with browser_session(app) as visitor:
        page = await visitor.get("/login", headers={"Accept-Language": "it-IT,it;q=0.9"})
        assert "Accedi a PartnerHub" in page.text
        # A visitor has no session (docs/security.md, "Anonymous visitors"): the language
        # follows the browser until one is picked, which a cookie then keeps.
        page = await visitor.get("/login", headers={"Accept-Language": "en-US"})
        assert "Sign in to PartnerHub" in page.text
        picked = await visitor.post(
            "/language",
            data={"csrf_token": csrf_of(page.text), "lang": "it", "next": "/login"},
            headers={"Accept-Language": "en-US"},
        )
        assert picked.status_code == 303
        page = await visitor.get("/login", headers={"Accept-Language": "en-US"})
        assert "Accedi a PartnerHub" in page.text


async def test_refusal_pages_are_italian(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    from tests.portal.test_wizard import insert_customer, templates_of

    csrf = await portal_login(client, tenant.admin.email, tenant.password)
    path = await create_template(client, csrf, tenant)
    [template] = await templates_of(db)
    await insert_customer(db, tenant, template.id)
    await switch_to_italian(client, csrf, "/")
    refused = await client.post(f"{path}/delete", data={"csrf_token": csrf})
    assert refused.status_code == 409
    assert (
        "Il modello &#39;SMB Italy&#39; è usato da 1 cliente e non può essere eliminato"
        in refused.text
    )
    forged = await client.post(f"{path}/delete", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    assert "Il modulo è scaduto o non proviene da questo sito" in forged.text
    missing = await client.get("/customers/templates/nope")
    assert "Pagina non trovata" in missing.text
    assert "Modello di onboarding non trovato" in missing.text
    viewer, password = await tenant.add_admin("read_only")
    async with browser_session(app) as other:
        other_csrf = await portal_login(other, viewer.email, password)
        await switch_to_italian(other, other_csrf, "/")
        denied = await other.get("/customers/templates/new")
        assert denied.status_code == 403
        assert "Il tuo ruolo non può creare modelli" in denied.text
