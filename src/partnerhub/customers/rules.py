"""Field rules of wholesale customers: what a provisioning body (``POST``, the precheck, the
portal wizard's steps, ``PUT``) must hold, with the contract's error code for each problem
(CONTRACT section 6). Pure functions of the body; the rules that need the database and the
lifecycle are :mod:`partnerhub.customers.service`.

The types and the shape of a body (an object where an object is expected, text, lists, no
unknown field) are the input schemas' (:mod:`partnerhub.customers.schemas`): the rules read
those models, the API's and the portal wizard's alike, and check values only. Every message
names the field as the client wrote it (``address.zipOrPostalCode``,
``provisioningParameters.calling.location.timezone``). Reference data comes from
:mod:`partnerhub.catalog` only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from partnerhub import ids
from partnerhub.catalog import geo, languages, packages, phones, timezones
from partnerhub.customers.schemas import (
    AddressIn,
    CustomerIn,
    CustomerInfoIn,
    LocationIn,
    ProvisioningParametersIn,
)
from partnerhub.errors import ApiError, InvalidAddress, InvalidValue, MissingField, ValidationFailed
from partnerhub.kit.validators import normalize_email
from partnerhub.models import Template

ADDRESS_LINE_MAX = 50
EXTERNAL_ID_MAX = 256
NAME_MAX = 256
LOCATION_NAME_MAX = 80
ELIN_MAX = 80
EMAIL_MAX = 320


class NeitherInfoNorOrg(ApiError):
    status, code = 400, 1005


class CallingLocationRequired(ApiError):
    status, code = 400, 1006


class DependencyNotMet(ApiError):
    status, code = 400, 1007


class PercentInName(ApiError):
    status, code = 400, 1012


class InvalidNumber(ApiError):
    status, code = 400, 1013


class Problems(list[ApiError]):
    def missing(self, name: str, detail: str = "is required", reason: str | None = None) -> None:
        self.append(MissingField(f"{name}: {detail}", field=name, reason=reason))

    def invalid(self, name: str, detail: str, reason: str | None = None, **params: Any) -> None:
        """*detail* is the API's English; *reason* and *params* word it in the portal."""
        self.append(InvalidValue(f"{name}: {detail}", field=name, reason=reason, params=params))

    def raise_if_any(self) -> None:
        if self:
            raise ValidationFailed(list(self))


def clean_text(value: str | None) -> str | None:
    """A stripped string, or None for absent/blank values."""
    text = (value or "").strip()
    return text or None


def checked_text(
    problems: Problems, name: str, value: str | None, *, required: bool, max_length: int
) -> str | None:
    text = clean_text(value)
    if text is None:
        if required:
            problems.missing(name)
        return None
    if len(text) > max_length:
        problems.invalid(
            name,
            f"'{text[:60]}' is longer than {max_length} characters",
            "too_long",
            max=max_length,
        )
    return text


def check_email(problems: Problems, name: str, value: str | None, *, required: bool) -> str | None:
    text = checked_text(problems, name, value, required=required, max_length=EMAIL_MAX)
    if text is None:
        return None
    normalized = normalize_email(text)
    if normalized is None:
        problems.invalid(name, f"'{text}' is not a valid email address", "email", value=text)
    return normalized


# The address's fields: (attribute, wire name, required).
ADDRESS_FIELDS = (
    ("address_line1", "addressLine1", True),
    ("address_line2", "addressLine2", False),
    ("city", "city", True),
    ("state_or_province", "stateOrProvince", False),
    ("zip_or_postal_code", "zipOrPostalCode", False),
    ("country", "country", True),
)


def check_address(problems: Problems, prefix: str, address: AddressIn | None) -> dict[str, str]:
    """An address in the wholesale shape (wire names); ``{}`` (and a problem) when absent."""
    if address is None:
        problems.missing(prefix)
        return {}
    out: dict[str, str] = {}
    for attr, key, required in ADDRESS_FIELDS:
        text = checked_text(
            problems,
            f"{prefix}.{key}",
            getattr(address, attr),
            required=required,
            max_length=ADDRESS_LINE_MAX,
        )
        if text is not None:
            out[key] = text
    country = out.get("country")
    if country is None:
        return out
    if geo.country(country) is None:
        problems.invalid(f"{prefix}.country", f"'{country}' is not an ISO 3166-1 alpha-2 code")
        return out
    out["country"] = country.upper()
    for fld, message in geo.validate_address(
        out["country"],
        out.get("stateOrProvince"),
        out.get("zipOrPostalCode"),
        country_field=f"{prefix}.country",
        state_field=f"{prefix}.stateOrProvince",
        postal_field=f"{prefix}.zipOrPostalCode",
    ):
        given = out.get("zipOrPostalCode" if fld.endswith("zipOrPostalCode") else "stateOrProvince")
        problems.append(
            InvalidAddress(
                message,
                field=fld,
                reason="not_for_country" if given else "required_for_country",
                params={"country": out["country"], "value": given or ""},
            )
        )
    return out


def check_packages(
    problems: Problems, value: list[str] | None, name: str = "packages"
) -> list[str]:
    if value is None:
        problems.missing(name)
        return []
    if not value:
        problems.missing(name, "at least one package is required", "at_least_one")
        return []
    chosen: list[str] = []
    for item in value:
        pkg = clean_text(item)
        if pkg is None or pkg not in packages.CUSTOMER_PACKAGES:
            problems.invalid(name, f"'{item}' is not a customer package", "unknown", value=item)
        elif pkg not in chosen:
            chosen.append(pkg)
    for pkg, needs in packages.unmet_dependencies(chosen):
        options = ", ".join(p for p in packages.PACKAGES if p in needs)
        problems.append(
            DependencyNotMet(
                f"{name}: '{pkg}' needs one of {options} in the same list",
                field=name,
                params={"package": pkg, "needs": [p for p in packages.PACKAGES if p in needs]},
            )
        )
    return chosen


def check_customer_info(
    problems: Problems, info: CustomerInfoIn | None, *, precheck: bool = False
) -> dict[str, str]:
    """``customerInfo``; the precheck's short variant needs only ``primaryEmail``."""
    prefix = "customerInfo"
    if info is None:
        problems.missing(prefix)
        return {}
    out: dict[str, str] = {}
    name = checked_text(
        problems, f"{prefix}.name", info.name, required=not precheck, max_length=NAME_MAX
    )
    if name is not None:
        if "%" in name:
            problems.append(
                PercentInName(
                    f"{prefix}.name: '{name}' must not contain '%'", field=f"{prefix}.name"
                )
            )
        out["name"] = name
    email = check_email(problems, f"{prefix}.primaryEmail", info.primary_email, required=True)
    if email is not None:
        out["primaryEmail"] = email
    lang = clean_text(info.language)
    if lang is not None:
        norm = languages.normalize_language(lang)
        if norm is None:
            problems.invalid(f"{prefix}.language", f"'{lang}' is not a language like en or en_US")
        else:
            out["language"] = norm
    return out


def check_location(problems: Problems, location: LocationIn) -> dict[str, Any]:
    prefix = "provisioningParameters.calling.location"
    out: dict[str, Any] = {}
    name = checked_text(
        problems,
        f"{prefix}.name",
        location.name,
        required=True,
        max_length=LOCATION_NAME_MAX,
    )
    if name is not None:
        out["name"] = name
    out["address"] = check_address(problems, f"{prefix}.address", location.address)
    zone = clean_text(location.timezone)
    if zone is None:
        problems.missing(f"{prefix}.timezone")
    elif not timezones.is_timezone(zone):
        problems.invalid(f"{prefix}.timezone", f"'{zone}' is not an IANA time zone")
    else:
        out["timezone"] = zone
    lang = clean_text(location.language)
    if lang is None:
        problems.missing(f"{prefix}.language")
    elif (norm := languages.normalize_language(lang)) is None:
        problems.invalid(f"{prefix}.language", f"'{lang}' is not a language like en or en_US")
    else:
        out["language"] = norm
    elin = checked_text(
        problems,
        f"{prefix}.emergencyLocationIdentifier",
        location.emergency_location_identifier,
        required=False,
        max_length=ELIN_MAX,
    )
    if elin is not None:
        out["emergencyLocationIdentifier"] = elin
    country = out["address"].get("country")
    numbers: list[str] = []
    for i, raw in enumerate(location.numbers or []):
        number = _number(problems, f"{prefix}.numbers[{i}]", raw, country)
        if number is not None and number not in numbers:
            numbers.append(number)
    main = location.main_number
    if main is not None and clean_text(main) is not None:
        main_number = _number(problems, f"{prefix}.mainNumber", main, country)
        if main_number is not None:
            out["mainNumber"] = main_number
            if main_number not in numbers:
                numbers.insert(0, main_number)
    if numbers:
        out["numbers"] = numbers
    return out


def _number(problems: Problems, name: str, raw: str, country: str | None) -> str | None:
    e164 = phones.parse_e164(raw)
    if e164 is None:
        problems.append(
            InvalidNumber(
                f"{name}: '{raw}' is not a valid E.164 phone number",
                field=name,
                reason="not_e164",
                params={"value": raw},
            )
        )
        return None
    if (
        country
        and geo.country(country) is not None
        and not phones.is_valid_for_country(e164, country)
    ):
        problems.append(
            InvalidNumber(
                f"{name}: '{e164}' is not a number of the location's country {country}",
                field=name,
                reason="not_in_country",
                params={"value": e164, "country": country},
            )
        )
        return None
    return e164


def check_limits(problems: Problems, limits: dict[str, Any], chosen: list[str]) -> dict[str, int]:
    """The maximum of each package: a whole number, 0 or more (a value of any JSON type is
    answered with this rule's message, not a type error)."""
    prefix = "provisioningParameters.packages.limits"
    out: dict[str, int] = {}
    for pkg, value in limits.items():
        name = f"{prefix}.{pkg}"
        if pkg not in packages.CUSTOMER_PACKAGES:
            problems.invalid(name, f"'{pkg}' is not a customer package", "unknown", value=pkg)
            continue
        if chosen and pkg not in chosen:
            problems.invalid(
                name, f"'{pkg}' is not one of the customer's packages", "not_chosen", package=pkg
            )
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.invalid(name, f"'{value}' is not a whole number", "whole_number", value=value)
            continue
        if isinstance(value, float) and not value.is_integer():
            problems.invalid(name, f"'{value}' is not a whole number", "whole_number", value=value)
            continue
        if value < 0:
            problems.invalid(name, f"{value} must be 0 or more", "negative", value=value)
            continue
        out[pkg] = int(value)
    return out


def check_parameters(
    problems: Problems,
    params: ProvisioningParametersIn | None,
    chosen: list[str] | None,
    *,
    location_known: bool = False,
) -> dict[str, Any]:
    """``provisioningParameters``; a calling location is required with calling packages
    unless ``location_known`` (an update of a customer that has one)."""
    params = params or ProvisioningParametersIn()
    out: dict[str, Any] = {}
    location = params.calling.location if params.calling else None
    if location is not None:
        out["calling"] = {"location": check_location(problems, location)}
    elif chosen and packages.has_calling(chosen) and not location_known:
        calling_names = ", ".join(p for p in chosen if p in packages.CALLING_PACKAGES)
        problems.append(
            CallingLocationRequired(
                "provisioningParameters.calling.location: is required with calling packages "
                f"({calling_names})",
                field="provisioningParameters.calling.location",
            )
        )
    zone = clean_text(params.meetings.timezone) if params.meetings else None
    if zone is not None:
        if not timezones.is_timezone(zone):
            problems.invalid(
                "provisioningParameters.meetings.timezone", f"'{zone}' is not an IANA time zone"
            )
        else:
            out["meetings"] = {"timezone": zone}
    if params.packages is not None and params.packages.limits is not None:
        out["packages"] = {"limits": check_limits(problems, params.packages.limits, chosen or [])}
    return out


@dataclass
class Checked:
    """A validated provisioning request, normalized."""

    template: Template | None = None
    packages: list[str] = field(default_factory=list)
    external_id: str | None = None
    address: dict[str, str] = field(default_factory=dict)
    customer_info: dict[str, str] | None = None
    org_id: uuid.UUID | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    sub_partner_admin_email: str | None = None


def check_fields(body: CustomerIn, *, precheck: bool = False) -> tuple[Checked, Problems]:
    """The field rules of a provisioning body (400s). ``precheck`` only requires ``address``
    and checks whatever else is present."""
    problems = Problems()
    out = Checked()
    if clean_text(body.provisioning_id) is None and not precheck:
        problems.missing("provisioningId")
    if body.packages is not None or not precheck:
        out.packages = check_packages(problems, body.packages)
    out.external_id = checked_text(
        problems,
        "externalId",
        body.external_id,
        required=not precheck,
        max_length=EXTERNAL_ID_MAX,
    )
    out.address = check_address(problems, "address", body.address)
    raw_org = clean_text(body.org_id)
    if raw_org is not None:
        out.org_id = ids.decode("ORGANIZATION", raw_org)
        if out.org_id is None:
            problems.invalid("orgId", f"'{raw_org}' is not an organization id")
    if body.customer_info is not None:
        out.customer_info = check_customer_info(problems, body.customer_info, precheck=precheck)
    elif raw_org is None and not precheck:
        problems.append(
            NeitherInfoNorOrg(
                "customerInfo: is required unless orgId is given", field="customerInfo"
            )
        )
    out.parameters = check_parameters(problems, body.provisioning_parameters, out.packages or None)
    out.sub_partner_admin_email = check_email(
        problems, "subPartnerAdminEmail", body.sub_partner_admin_email, required=False
    )
    return out, problems
