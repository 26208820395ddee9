"""The bad-input corpus: the main create endpoints (a valid body each and its text fields) and
the bad values thrown at them. Used by ``test_bad_input.py``.

Every text field is either *free text* (a name, an address line, a note: an injection string
or an RTL / combining-mark string is a legitimate value, so it must be accepted, stored
verbatim and shown escaped), *coded* (an email, a country, a language, a time zone, a phone
number, an id: such a value must be refused with a 4xx) or *secret* (a password: accepted,
never stored as such). A NUL character or an unpaired surrogate is refused everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.factories import Setup, customer_body, number

# Each value mixes an SQL and an HTML injection (at most 50 characters: address lines allow no
# more), so that every text field meets both kinds in two requests.
SQL = "';DROP TABLE customers;--"
SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
INJECTIONS = (f"{SQL}{SCRIPT}", f'{ATTRIBUTE}" OR "1"="1')
HTML = (SCRIPT, ATTRIBUTE)  # the markup that must never reach a page unescaped

RTL = "\u202eevil\u202c שלום مرحبا"  # right-to-left override, Hebrew, Arabic
COMBINING = "Ze\u0301\u0302\u0303\u0304bra Z\u0351\u0352\u0353"  # stacked combining marks
ACCEPTABLE_UNICODE = (f"{RTL} {COMBINING}",)
NUL = "nul\x00byte"
SURROGATE = "lone \ud800 surrogate"
REFUSED_UNICODE = (NUL, SURROGATE)
# opaque ids: a value that is not one of ours names nothing (404 rather than 400)
ID_FIELDS = frozenset(
    {"orgId", "customerId", "provisioningId", "provisioningParameters.locationId"}
)


@dataclass
class World:
    """What the corpus needs: a template, a provisioned customer with its HQ location."""

    setup: Setup
    provisioning_id: str
    admin_email: str
    counter: list[int] = field(default_factory=lambda: [0])

    def n(self) -> int:
        self.counter[0] += 1
        return self.counter[0]

    @property
    def customer_id(self) -> str:
        return self.setup.id

    @property
    def hq_id(self) -> str:
        return self.setup.hq_id


@dataclass(frozen=True)
class Target:
    """A create endpoint: its valid body, its text fields, where the result is shown."""

    name: str
    table: str  # where it is stored
    path: Callable[[World], str]
    body: Callable[[World, int], dict[str, Any]]
    free: tuple[str, ...]  # free-text fields (dotted paths)
    coded: tuple[str, ...]  # fields with a format or a closed set of values
    # the created resource's JSON, read back through the API (from the POST's response)
    read: Callable[[World, Any], str]
    # the portal page that shows the created resource, and which free fields it shows
    page: Callable[[World, Any], str]
    secret: tuple[str, ...] = ()  # free text never stored as such (kept as a hash)
    shown: tuple[str, ...] = ()  # free fields the portal page shows
    returned: tuple[str, ...] = ()  # free fields the API gives back
    success: int = 201

    def __str__(self) -> str:
        return self.name


def _template(w: World, n: int) -> dict[str, Any]:
    return {
        "name": f"Template {n}",
        "offer": "wholesale",
        "serviceProviderAdminEmail": w.admin_email,
        "country": "US",
        "defaultEmailLanguage": "en_US",
        "wholesaleSubscriptionId": f"Sub-{n}",
        "pstnProvider": "PSTN Co",
        "authentication": {"method": "platform"},
        "email": {"brandName": f"Brand {n}", "allowAdminInviteOnLink": False},
    }


def _customer(w: World, n: int) -> dict[str, Any]:
    body = customer_body(w.provisioning_id, n)
    body["customerInfo"]["language"] = "en_US"
    body["provisioningParameters"]["calling"]["location"]["emergencyLocationIdentifier"] = "ELIN-1"
    body["provisioningParameters"]["meetings"] = {"timezone": "America/Los_Angeles"}
    return body


def _location(w: World, n: int) -> dict[str, Any]:
    return {
        "orgId": w.setup.org,
        "name": f"Site {n}",
        "timeZone": "America/Los_Angeles",
        "preferredLanguage": "en_US",
        "announcementLanguage": "en_US",
        "emergencyLocationIdentifier": f"ELIN-{n}",
        "address": {
            "address1": "1 Main St",
            "address2": "Floor 2",
            "city": "San Francisco",
            "state": "CA",
            "postalCode": "94105",
            "country": "US",
        },
    }


def _subscriber(w: World, n: int) -> dict[str, Any]:
    return {
        "customerId": w.customer_id,
        "email": f"user{n}@corpus.example",
        "package": "webex_calling",
        "provisioningParameters": {
            "firstName": "Ada",
            "lastName": f"Lovelace {n}",
            "extension": f"{1000 + n}",
            "locationId": w.hq_id,
        },
    }


def _numbers(w: World, n: int) -> dict[str, Any]:
    return {"phoneNumbers": [number(n)], "numberType": "DID", "state": "ACTIVE"}


def _installation(w: World, n: int) -> dict[str, Any]:
    return {
        "contactName": f"Grace {n}",
        "contactEmail": f"grace{n}@corpus.example",
        "phone": "+14155550123",
        "preferredDates": "Mondays",
        "sites": "HQ and the warehouse",
        "notes": "Bring ladders",
    }


def _administrator(w: World, n: int) -> dict[str, Any]:
    return {
        "email": f"admin{n}@corpus.example",
        "displayName": f"Admin {n}",
        "role": "read_only",
        "password": f"corpus-password-{n:04d}",
    }


def _id_of(response: Any) -> str:
    return str(response.json()["id"])


TARGETS: tuple[Target, ...] = (
    Target(
        "templates",
        "templates",
        lambda w: "/v1/partner/templates",
        _template,
        free=("name", "wholesaleSubscriptionId", "email.brandName"),
        coded=(
            "serviceProviderAdminEmail",
            "country",
            "defaultEmailLanguage",
            "pstnProvider",
            "dataRegion",
            "offer",
            "authentication.method",
        ),
        read=lambda w, r: f"/v1/partner/templates/{_id_of(r)}",
        page=lambda w, r: f"/customers/templates/{_id_of(r)}",
        shown=("name", "email.brandName", "wholesaleSubscriptionId"),
        returned=("name", "wholesaleSubscriptionId", "email.brandName"),
    ),
    Target(
        "customers",
        "customers",
        lambda w: "/v1/wholesale/customers",
        _customer,
        free=(
            "externalId",
            "customerInfo.name",
            "address.addressLine1",
            "address.addressLine2",
            "address.city",
            "provisioningParameters.calling.location.name",
            "provisioningParameters.calling.location.address.addressLine1",
            "provisioningParameters.calling.location.address.city",
            "provisioningParameters.calling.location.emergencyLocationIdentifier",
        ),
        coded=(
            "provisioningId",
            "customerInfo.primaryEmail",
            "customerInfo.language",
            "address.stateOrProvince",
            "address.zipOrPostalCode",
            "address.country",
            "provisioningParameters.calling.location.timezone",
            "provisioningParameters.calling.location.language",
            "provisioningParameters.calling.location.address.stateOrProvince",
            "provisioningParameters.calling.location.address.zipOrPostalCode",
            "provisioningParameters.calling.location.address.country",
            "provisioningParameters.meetings.timezone",
            "subPartnerAdminEmail",
            "packages.0",
            "packages.1",
        ),
        read=lambda w, r: "/v1/wholesale/customers/" + r.headers["Location"].rsplit("/", 1)[1],
        page=lambda w, r: "/customers/" + r.headers["Location"].rsplit("/", 1)[1],
        shown=("externalId", "customerInfo.name", "address.addressLine1", "address.city"),
        returned=(
            "externalId",
            "customerInfo.name",
            "address.addressLine1",
            "address.addressLine2",
            "address.city",
        ),
        success=202,
    ),
    Target(
        "locations",
        "locations",
        lambda w: "/v1/locations",
        _location,
        free=(
            "name",
            "address.address1",
            "address.address2",
            "address.city",
            "emergencyLocationIdentifier",
        ),
        coded=(
            "orgId",
            "timeZone",
            "preferredLanguage",
            "announcementLanguage",
            "address.state",
            "address.postalCode",
            "address.country",
        ),
        read=lambda w, r: f"/v1/locations/{_id_of(r)}",
        page=lambda w, r: f"/org/{w.customer_id}/locations",
        shown=("name", "address.address1", "address.city"),
        returned=(
            "name",
            "address.address1",
            "address.address2",
            "address.city",
            "emergencyLocationIdentifier",
        ),
    ),
    Target(
        "subscribers",
        "org_users",
        lambda w: "/v1/wholesale/subscribers",
        _subscriber,
        free=("provisioningParameters.firstName", "provisioningParameters.lastName"),
        coded=(
            "customerId",
            "email",
            "package",
            "provisioningParameters.extension",
            "provisioningParameters.locationId",
            "provisioningParameters.primaryPhoneNumber",
        ),
        read=lambda w, r: f"/v1/wholesale/subscribers/{_id_of(r)}",
        page=lambda w, r: f"/org/{w.customer_id}/users",
        shown=("provisioningParameters.firstName", "provisioningParameters.lastName"),
        success=200,
    ),
    Target(
        "numbers",
        "phone_numbers",
        lambda w: f"/v1/telephony/config/locations/{w.hq_id}/numbers",
        _numbers,
        free=(),
        coded=("phoneNumbers.0", "numberType", "state"),
        read=lambda w, r: f"/v1/telephony/config/numbers?locationId={w.hq_id}",
        page=lambda w, r: f"/org/{w.customer_id}/numbers",
    ),
    Target(
        "installation requests",
        "installation_requests",
        lambda w: f"/v1/partner/customers/{w.customer_id}/installationRequests",
        _installation,
        free=("contactName", "preferredDates", "sites", "notes"),
        coded=("contactEmail", "phone"),
        read=lambda w, r: f"/v1/partner/customers/{w.customer_id}/installationRequests",
        page=lambda w, r: f"/customers/{w.customer_id}/setup",
        shown=("contactName", "preferredDates", "sites", "notes"),
        returned=("contactName", "preferredDates", "sites", "notes"),
    ),
    Target(
        "administrators",
        "partner_admins",
        lambda w: "/v1/partner/administrators",
        _administrator,
        free=("displayName",),
        coded=("email", "role"),
        secret=("password",),
        read=lambda w, r: "/v1/partner/administrators",
        page=lambda w, r: "/settings/administrators",
        shown=("displayName",),
        returned=("displayName",),
    ),
)


def get_path(body: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        body = body[int(part)] if isinstance(body, list) else body[part]
    return body


def set_path(body: Any, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        body = body[int(part)] if isinstance(body, list) else body.setdefault(part, {})
    if isinstance(body, list):
        body[int(last)] = value
    else:
        body[last] = value


def leaves(body: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted path, value) of every field of a body, nested objects and lists included."""
    out: list[tuple[str, Any]] = []
    items = enumerate(body) if isinstance(body, list) else body.items()
    for key, value in items:
        dotted = f"{prefix}{key}"
        out.append((dotted, value))
        if isinstance(value, dict | list) and value:
            out += leaves(value, dotted + ".")
    return out


def wrong_types(value: Any) -> list[Any]:
    """Values of other JSON types than ``value``'s (none of them a lax equivalent)."""
    if isinstance(value, bool):
        return [[], 2]
    if isinstance(value, str):
        return [12345, {}]
    if isinstance(value, list):
        return ["text", {}]
    if isinstance(value, dict):
        return ["text", []]
    return ["text", {}]
