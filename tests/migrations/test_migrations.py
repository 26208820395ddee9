"""The Alembic revisions build exactly the schema the models describe, and go down again."""

from __future__ import annotations

import importlib
import uuid

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, pool, text

from partnerhub import ids, models
from partnerhub.db import migration_status, sqlalchemy_url, upgrade
from partnerhub.errors import ApiError
from partnerhub.events.service import parse_filter


def test_migrated_schema_matches_models(database_url: str) -> None:
    engine = create_engine(sqlalchemy_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            # Partitions (of usage_ledger) are part of their partitioned table's model.
            partitions = {
                row[0]
                for row in conn.execute(text("SELECT relname FROM pg_class WHERE relispartition"))
            }
            context = MigrationContext.configure(
                conn,
                opts={
                    # procrastinate's tables belong to procrastinate, not to our models.
                    "include_name": lambda name, type_, parent: (
                        not (
                            type_ == "table"
                            and ((name or "").startswith("procrastinate_") or name in partitions)
                        )
                    )
                },
            )
            diff = compare_metadata(context, models.Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_database_is_at_head(database_url: str) -> None:
    current, head = migration_status(database_url)
    assert current == head is not None


def test_0018_parses_the_filters_of_existing_webhooks(empty_database: str) -> None:
    """Webhooks made before 0018 get their filter's parts as columns (what the dispatcher now
    matches on); one whose filter does not parse is deactivated, as it received nothing."""
    upgrade(empty_database, "0017")
    partner, sub, customer = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    sub_org = ids.encode("ORGANIZATION", sub, ids.HUB)
    customer_ref = ids.encode("CUSTOMER", customer, ids.HUB)
    filters = {
        "none": None,
        "customer": f"customerId={customer_ref}&status=ACTIVE",
        "sub": f"onBehalfOfSubPartnerOrgId={sub_org}",
        "broken": "customerId=not-an-id",
    }
    made = {key: uuid.uuid4() for key in filters}
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO partners (id, name, provisioning_state, settings) "
            "VALUES (%s, 'P', 'active', '{}')",
            (partner,),
        )
        for key, raw in filters.items():
            conn.execute(
                "INSERT INTO webhooks (id, partner_id, name, target_url, resource, event, "
                "filter) VALUES (%s, %s, %s, 'https://h.example/in', 'locations', 'all', %s)",
                (made[key], partner, key, raw),
            )
    upgrade(empty_database, "head")
    with psycopg.connect(empty_database) as conn:
        rows = conn.execute(
            "SELECT name, filter_customer_id, filter_status, filter_sub_partner_id, status "
            "FROM webhooks ORDER BY name"
        ).fetchall()
    assert {row[0]: row[1:] for row in rows} == {
        "broken": (None, None, None, "inactive"),
        "customer": (customer, "ACTIVE", None, "active"),
        "none": (None, None, None, "active"),
        "sub": (None, None, sub, "active"),
    }


def test_0018_parses_filters_as_the_api_did_when_it_was_written() -> None:
    """0018 carries its own copy of the filter parser (a migration must not change with later
    code); on the filters the API accepted or refused at the time, the copy agrees with it."""
    step = importlib.import_module("partnerhub.migrations.versions.0018_webhook_filter_columns")
    customer, sub = uuid.uuid4(), uuid.uuid4()
    eu_customer = ids.encode("CUSTOMER", customer, "eu")
    hub_sub = ids.encode("ORGANIZATION", sub, ids.HUB)
    filters = [
        f"customerId={eu_customer}",
        f"customerId={ids.encode('CUSTOMER', customer, ids.HUB)}&status=ACTIVE",
        f"onBehalfOfSubPartnerOrgId={hub_sub}&status=provisioning",
        f"customerId=%20{eu_customer}%20",
        "status=a%26b",
        "status=ACTIVE&status=ACTIVE",
        "status=",
        "status",
        "color=blue",
        f"customerId={hub_sub}",
        f"onBehalfOfSubPartnerOrgId={eu_customer}",
        "customerId=" + "A" * 201,
        "customerId=not-an-id",
        "&&status=ACTIVE&",
        "",
        "   ",
    ]
    for raw in filters:
        try:
            live = parse_filter(raw)
        except ApiError:
            expected = None
        else:
            expected = (live.customer_id, live.status, live.sub_partner_id)
        assert step._parse(raw) == expected, raw


def test_0019_keeps_each_claim_as_addresses_spell_it(empty_database: str) -> None:
    """Claims made before 0019 get ``address_domain``: the Unicode form of an internationalized
    domain (as stored addresses spell it), the domain itself otherwise."""
    upgrade(empty_database, "0018")
    partner, idp = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO partners (id, name, provisioning_state, settings) "
            "VALUES (%s, 'P', 'active', '{}')",
            (partner,),
        )
        conn.execute(
            "INSERT INTO saml_identity_providers (id, partner_id, entity_id, display_name, "
            "metadata_xml, signing_certificates, sso_url, sso_binding, "
            "want_authn_requests_signed, for_administrators, created, updated) VALUES "
            "(%s, %s, 'https://idp.example', '', '<x/>', '{}', 'https://idp.example/sso', "
            "'redirect', false, false, now(), now())",
            (idp, partner),
        )
        for domain in ("xn--bcher-kva.example", "corp.example"):
            conn.execute(
                "INSERT INTO sso_domains (domain, partner_id, saml_idp_id, created) "
                "VALUES (%s, %s, %s, now())",
                (domain, partner, idp),
            )
    upgrade(empty_database, "head")
    with psycopg.connect(empty_database) as conn:
        rows = conn.execute("SELECT domain, address_domain FROM sso_domains").fetchall()
    assert dict(rows) == {
        "xn--bcher-kva.example": "bücher.example",
        "corp.example": "corp.example",
    }
