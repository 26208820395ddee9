"""The reference app: what the least a subscriber POST can cost on this stack.

A minimal FastAPI app on uvicorn (the same server and HTTP parser ``partnerhub serve`` runs):
``POST /v1/wholesale/subscribers`` validates the same body with Pydantic (the same fields,
lengths and camelCase names as PartnerHub's ``SubscriberIn``), checks the bearer token with one
``SELECT`` by the token's SHA-256 hash, and inserts one ``org_users`` row through a psycopg
autocommit pool, on the same database PartnerHub uses. No rules, no rate limits, no facts, no
error shape: the floor against which ``bench/subscribers.py --compare`` measures PartnerHub.

The row is a plain subscriber of the customer named in the body (its organization found by the
INSERT itself), without calling fields: the anchor checks no number inventory.

    .venv/bin/python bench/anchor.py --port 8123 --database-url postgresql://...
"""

from __future__ import annotations

import argparse
import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from partnerhub import ids

PATH = "/v1/wholesale/subscribers"


class Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ProvisioningParameters(Body):
    first_name: str | None = Field(default=None, max_length=1000)
    last_name: str | None = Field(default=None, max_length=1000)
    primary_phone_number: str | None = Field(default=None, max_length=100)
    extension: str | None = Field(default=None, max_length=100)
    location_id: str | None = Field(default=None, max_length=300)


class Subscriber(Body):
    customer_id: str | None = Field(default=None, max_length=300)
    email: str | None = Field(default=None, max_length=1000)
    package: str | None = Field(default=None, max_length=100)
    packages: list[str] | None = Field(default=None, max_length=20)
    provisioning_parameters: ProvisioningParameters | None = None


BEARER_CHECK = "SELECT partner_id FROM api_tokens WHERE token_hash = %s"
INSERT = """
INSERT INTO org_users (id, partner_id, customer_id, org_id, email, first_name, last_name, roles,
                       package, status, created, last_status_change)
SELECT %(id)s, c.partner_id, c.id, c.org_id, %(email)s, %(first)s, %(last)s, '{}', %(package)s,
       'provisioned', %(now)s, %(now)s
FROM customers c WHERE c.id = %(customer)s AND c.partner_id = %(partner)s
"""


def create_app(url: str) -> FastAPI:
    pool = AsyncConnectionPool(
        url, min_size=1, max_size=20, open=False, kwargs={"autocommit": True}
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await pool.open()
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan)

    async def partner(request: Request, authorization: str = Header(default="")) -> uuid.UUID:
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret:
            raise HTTPException(401)
        async with pool.connection() as conn:
            cur = await conn.execute(BEARER_CHECK, (hashlib.sha256(secret.encode()).digest(),))
            row = await cur.fetchone()
        if row is None:
            raise HTTPException(401)
        found: uuid.UUID = row[0]
        return found

    @app.post(PATH)
    async def provision(body: Subscriber, partner_id: uuid.UUID = Depends(partner)) -> JSONResponse:
        customer = ids.decode("CUSTOMER", body.customer_id or "")
        if customer is None or not body.email:
            raise HTTPException(400)
        params = body.provisioning_parameters or ProvisioningParameters()
        user_id = uuid.uuid4()
        now = datetime.now(UTC)
        package = body.package or (body.packages or [None])[0]
        async with pool.connection() as conn:
            cur = await conn.execute(
                INSERT,
                {
                    "id": user_id,
                    "email": body.email.lower(),
                    "first": params.first_name,
                    "last": params.last_name,
                    "package": package,
                    "now": now,
                    "customer": customer,
                    "partner": partner_id,
                },
            )
            if cur.rowcount != 1:
                raise HTTPException(404)
        out = {
            "id": str(user_id),
            "email": body.email.lower(),
            "customerId": body.customer_id,
            "packages": [package] if package else [],
            "status": "provisioned",
            "created": now.isoformat(),
        }
        return JSONResponse(out, headers={"Location": f"{PATH}/{user_id}"})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.database_url),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
