"""The portal's words for a refusal: error code + field (+ reason) -> a translated sentence.

The services raise :class:`partnerhub.errors.ApiError` with the API's English ``description``
(the contract's text, with wire paths such as ``customerInfo.primaryEmail``), a numeric
``code``, the ``field`` it is about, and, where one code covers several refusals, a ``reason``
and the ``params`` its message names. The portal never shows the description as it is:
:func:`describe` looks the refusal up here, most specific first —

1. ``"<code>/<reason>"`` (``"1013/assigned"``),
2. ``"<code>/<field>"`` (``"1200/externalId"``),
3. a description that is itself a translated message id (e.g. "Customer not found") and has
   no wire path,
4. ``"<code>"`` (``"1007"``),
5. the generic sentence of the status (not accepted, not found, conflict, ...).

``%(field)s`` is the label of the field as the form shows it (:data:`FIELD_LABELS`, matched
on the wire path's last parts), so the message is about the field next to which it is
shown. Package ids, role ids and country codes in ``params`` are
shown by their translated names (:func:`_shown`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from partnerhub.catalog import customer_roles, geo, packages, roles
from partnerhub.errors import ApiError
from partnerhub.portal.i18n import N_, is_message, translations
from partnerhub.portal.render import package_label

# Field (the last parts of a wire path, or a form field's name) -> the label the form shows.
FIELD_LABELS: dict[str, str] = {
    "domains": N_("E-mail domains"),
    "metadata_xml": N_("SAML metadata"),
    "metadata_url": N_("SAML metadata URL"),
    "customerInfo.name": N_("Company name"),
    "customerInfo.primaryEmail": N_("Admin email"),
    "primaryEmail": N_("Admin email"),
    "customerInfo.language": N_("Location language"),
    "externalId": N_("External customer ID"),
    "provisioningId": N_("Onboarding template"),
    "packages": N_("Packages"),
    "package": N_("Package"),
    "limits": N_("Limit (optional)"),
    "country": N_("Country or region"),
    "addressLine1": N_("Address line 1"),
    "addressLine2": N_("Address line 2"),
    "city": N_("City"),
    "stateOrProvince": N_("State or province"),
    "zipOrPostalCode": N_("Postal code"),
    "location": N_("Location"),
    "location.name": N_("Location name"),
    "locationId": N_("Location"),
    "timezone": N_("Time zone"),
    "language": N_("Location language"),
    "numbers": N_("Phone numbers"),
    "phoneNumbers": N_("Phone numbers"),
    "mainNumber": N_("Phone number"),
    "email": N_("Email address"),
    "name": N_("Name"),
    "display_name": N_("Name"),
    "first_name": N_("First name"),
    "firstName": N_("First name"),
    "last_name": N_("Last name"),
    "lastName": N_("Last name"),
    "phone_number": N_("Phone number"),
    "primaryPhoneNumber": N_("Phone number"),
    "extension": N_("Extension (optional)"),
    "role": N_("Role"),
    "roles": N_("Roles"),
    "admin_role": N_("Roles"),
    "password": N_("Password"),
    "contact_name": N_("Contact name"),
    "contact_email": N_("Contact email"),
    "phone": N_("Phone"),
    "preferred_dates": N_("Preferred dates"),
    "sites": N_("Sites"),
    "notes": N_("Notes"),
    "customer": N_("Customer"),
    "billingStartDate": N_("Start date"),
    "billingEndDate": N_("End date"),
    "type": N_("Type"),
    "category": N_("Category"),
    "subPartnerOrgId": N_("Sub-partner"),
    "targetUrl": N_("Target URL"),
    "resource": N_("Resource"),
    "event": N_("Event"),
    "filter": N_("Filter (optional)"),
}

# "<code>/<reason>", "<code>/<field>" or "<code>" -> the message; %(field)s is the label.
MESSAGES: dict[str, str] = {
    "1003/metadata": N_("%(field)s: not usable SAML metadata (%(detail)s)"),
    "1003/metadata_xml": N_("%(field)s: not well-formed XML or not usable SAML metadata"),
    "1003/metadata_url": N_("%(field)s: not well-formed XML or not usable SAML metadata"),
    "1222/claimed": N_("%(field)s: %(value)s already claimed by another identity provider"),
    "1222/race": N_("%(field)s: one of %(value)s was just claimed by another identity provider"),
    # A person whose address's domain another partner family's IdP claims (never says whose)
    "1222/other_family": N_(
        "%(field)s: addresses of this domain sign in through another partner's identity "
        "provider; use an address of another domain"
    ),
    # 1002: missing
    "1002": N_("%(field)s: this field is required"),
    "1002/at_least_one": N_("%(field)s: choose at least one package"),
    # 1003: a value that is not accepted
    "1003": N_("%(field)s: this value is not accepted"),
    "1003/too_long": N_("%(field)s: at most %(max)s characters"),
    "1003/too_short": N_("%(field)s: at least %(min)s characters"),
    "1003/email": N_("%(field)s: '%(value)s' is not a valid email address"),
    "1003/unknown": N_("%(field)s: '%(value)s' is not one of the choices offered"),
    "1003/not_chosen": N_("%(field)s: %(package)s is not one of the customer's packages"),
    "1003/whole_number": N_("%(field)s: '%(value)s' is not a whole number"),
    "1003/negative": N_("%(field)s: the number must be 0 or more"),
    "1003/phone": N_("%(field)s: '%(value)s' is not a valid phone number"),
    "1003/not_extension": N_("%(field)s: '%(value)s' is not an extension (2 to 10 digits)"),
    "1003/not_date": N_("%(field)s: '%(value)s' is not a date (YYYY-MM-DD)"),
    "1003/after_end": N_("%(field)s: must not be after the end date"),
    "1003/not_before_today": N_("%(field)s: must be before today"),
    "1003/too_old": N_("%(field)s: at most %(years)s years ago"),
    # 1004: an address that does not fit its country
    "1004": N_("%(field)s: not valid for the country %(country)s"),
    "1004/required_for_country": N_("%(field)s: required for the country %(country)s"),
    "1004/not_for_country": N_("%(field)s: '%(value)s' is not valid for the country %(country)s"),
    "1006": N_("%(field)s: calling packages need the headquarters location"),
    "1007": N_("%(field)s: %(package)s needs one of %(needs)s"),
    "1008": N_("%(field)s: choose exactly one package"),
    "1009": N_("%(field)s: users with a calling package need a phone number or an extension"),
    "1010": N_(
        "%(field)s: the customer's limit for %(package)s is reached (%(used)s of %(limit)s "
        "assigned)"
    ),
    "1011": N_("%(field)s: administrators need a higher package"),
    "1011/lowered": N_(
        "%(field)s: the package of this user (%(role)s) cannot be lowered from %(current)s to "
        "%(package)s"
    ),
    "1011/below_creation": N_(
        "%(field)s: administrators need %(base)s or a higher package; %(package)s is lower"
    ),
    "1012": N_("%(field)s: the character %% is not allowed"),
    "1013": N_("%(field)s: this phone number cannot be used"),
    "1013/not_e164": N_(
        "%(field)s: '%(value)s' is not a phone number in international format (like +390212345678)"
    ),
    "1013/not_in_country": N_("%(field)s: %(value)s is not a number of the country %(country)s"),
    "1013/not_in_inventory": N_("%(field)s: %(value)s is not among the customer's numbers"),
    "1013/other_location": N_(
        "%(field)s: %(value)s belongs to another location, not to %(location)s"
    ),
    "1013/main_number": N_("%(field)s: %(value)s is the main number of %(location)s"),
    "1013/assigned": N_("%(field)s: %(value)s is already assigned"),
    "1013/not_range": N_(
        "%(field)s: '%(value)s' is not a range like +390212345600..+390212345699 or "
        "+390212345600..699"
    ),
    # conflicts
    "1200": N_("%(field)s: already in use"),
    "1200/externalId": N_("%(field)s: another of your customers already has this ID"),
    "1201/customer": N_(
        "Users can be added and changed once the customer is provisioned; try again later"
    ),
    "1204/email": N_("%(field)s: already belongs to a partner administrator"),
    "1210": N_("%(field)s: %(value)s is already used in %(location)s"),
    "1212": N_("%(field)s: already in a location's inventory"),
    "10022": N_("%(field)s: already belongs to a user"),
    "10022/taken": N_("%(field)s: '%(value)s' already belongs to a user"),
    "10022/pending": N_(
        "%(field)s: this user is already waiting for their consent to move to this organization"
    ),
    "1003/passwords_differ": N_("The two passwords differ"),
    # Webhooks (events.service): the target URL and the filter
    "1003/url.not_url": N_("%(field)s: '%(value)s' is not a URL"),
    "1003/url.scheme": N_("%(field)s: only http and https URLs are accepted"),
    "1003/url.no_host": N_("%(field)s: '%(value)s' has no host name"),
    "1003/url.userinfo": N_("%(field)s: user names and passwords in URLs are not accepted"),
    "1003/url.private": N_(
        "%(field)s: %(host)s is a private, local or reserved address; PartnerHub posts only to "
        "public addresses"
    ),
    "1003/filter.unknown_key": N_("%(field)s: unknown key '%(key)s' (one of %(keys)s)"),
    "1003/filter.one_value": N_("%(field)s: '%(key)s' needs exactly one value"),
    "1003/filter.not_customer_id": N_("%(field)s: '%(value)s' is not a customer ID"),
    "1003/filter.not_org_id": N_("%(field)s: '%(value)s' is not an organization ID"),
    "1003/filter.no_customer": N_("%(field)s: no customer of yours has this ID"),
    "1003/filter.no_sub_partner": N_("%(field)s: no sub-partner of yours has this organization ID"),
    # The template wizard (onboarding.service.check_section, reason "template.<field>"): the
    # English text is the service's message (tests/portal/test_wizard.py checks every one).
    "1003/template.offer": N_("offer: '%(value)s' is not an offer (allowed: wholesale)"),
    "1002/template.name": N_("Template name is required"),
    "1003/template.name": N_("Template name: at most 200 characters"),
    "1202/template.name": N_("Template name: a template named '%(value)s' already exists"),
    "1002/template.service_provider_admin_email": N_("Service provider administrator is required"),
    "1003/template.service_provider_admin_email": N_(
        "Service provider administrator: '%(value)s' is not an administrator of this partner"
    ),
    "1002/template.country": N_("Country or region is required"),
    "1003/template.country": N_("Country or region: '%(value)s' is not an ISO 3166-1 alpha-2 code"),
    "1002/template.default_email_language": N_("Default email language is required"),
    "1003/template.default_email_language": N_(
        "Default email language: '%(value)s' is not a supported language"
    ),
    "1002/template.wholesale_subscription_id": N_("Wholesale subscription is required"),
    "1003/template.wholesale_subscription_id": N_("Wholesale subscription: at most 100 characters"),
    "1003/template.data_region": N_("Data region: '%(value)s' is not a region"),
    "1003/template.pstn_provider": N_(
        "PSTN provider: '%(value)s' is not one of this partner's PSTN providers"
    ),
    "1003/template.auth_method": N_(
        "Authentication method: '%(value)s' is not one of platform, partner_saml, partner_oidc"
    ),
    "1002/template.idp_entity_id": N_("IdP entity ID (from the IdP's SAML metadata) is required"),
    "1003/template.idp_entity_id": N_("IdP entity ID: at most 1024 characters"),
    "1003/template.idp_entity_id.unknown": N_(
        "IdP entity ID: '%(value)s' is not one of this partner's registered SAML identity providers"
    ),
    "1002/template.oidc_idp_name": N_("OpenID Connect IdP name is required"),
    "1003/template.oidc_idp_name": N_("OpenID Connect IdP name: at most 200 characters"),
    "1003/template.oidc_idp_name.unknown": N_(
        "OpenID Connect IdP name: '%(value)s' is not one of this partner's registered OpenID "
        "Connect providers"
    ),
    "1002/template.brand_name": N_("Brand name is required"),
    "1003/template.brand_name": N_("Brand name: at most 200 characters"),
    "1003/template.allow_platform_calling": N_(
        "Platform-to-platform calls can be allowed only when both the wholesale and the "
        "hosted-calling offers are in use"
    ),
}

# The last resort, by status (the field's label in front when the refusal names a field).
BY_STATUS: dict[int, str] = {
    400: N_("%(field)s: this value is not accepted"),
    403: N_("Not permitted"),
    404: N_("%(field)s: not found"),
    409: N_("%(field)s: this conflicts with what already exists"),
    413: N_("Too large"),
    429: N_("Too many attempts; try again later"),
}
NO_FIELD: dict[int, str] = {
    400: N_("The request was refused"),
    403: N_("Not permitted"),
    404: N_("Page not found"),
    409: N_("Conflict"),
    413: N_("Too large"),
    429: N_("Too many attempts; try again later"),
}
REFUSED = N_("The request was refused")
LIMIT_FOR = N_("Limit for %(package)s")

_INDEX = re.compile(r"\[\d+\]")
WIRE_PATH = re.compile(r"\b[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*){2,}\b")
"""A wire path such as ``a.b.c`` (three parts or more): never shown to a user."""


def field_key(field: str | None) -> str | None:
    """The catalogue's key of *field*: its wire path without list indexes, limits reduced to
    ``limits`` (``provisioningParameters.packages.limits.webex_calling``)."""
    if not field:
        return None
    path = _INDEX.sub("", field)
    if ".limits." in path or path.startswith("limits."):
        return "limits"
    return path


def _limit_package(field: str | None) -> str | None:
    """The package of a ``...limits.<package>`` field."""
    if field_key(field) != "limits":
        return None
    package = _INDEX.sub("", field or "").rsplit(".", 1)[-1]
    return package if package in packages.PACKAGES else None


def label_of(field: str | None) -> str | None:
    """The label msgid of *field*: the longest tail of its path the catalogue knows."""
    key = field_key(field)
    if key is None:
        return None
    parts = key.split(".")
    for start in range(len(parts)):
        label = FIELD_LABELS.get(".".join(parts[start:]))
        if label is not None:
            return label
    return None


def _shown(key: str, value: Any, lang: str, gettext: Callable[[str], str]) -> Any:
    """A parameter as the reader should see it: names for package, role and country ids."""
    if key in ("package", "current", "base") and isinstance(value, str):
        return gettext(package_label(value)) if value in packages.PACKAGES else value
    if key == "needs" and isinstance(value, Iterable) and not isinstance(value, str):
        return ", ".join(gettext(package_label(str(v))) for v in value)
    if key == "role" and isinstance(value, str):
        role = customer_roles.CUSTOMER_ROLES.get(value) or roles.PARTNER_ROLES.get(value)
        return gettext(role.label) if role is not None else value
    if key == "country" and isinstance(value, str):
        return geo.country_name(value, lang) or value
    return value


class _Params(dict[str, Any]):
    def __missing__(self, key: str) -> str:  # a message never fails on a missing value
        return ""


def describe(problem: ApiError, lang: str) -> str:
    """*problem* as one sentence in *lang*, about the field the user sees."""
    gettext = translations(lang).gettext
    label = label_of(problem.field)
    params = _Params({k: _shown(k, v, lang, gettext) for k, v in (problem.params or {}).items()})
    params["field"] = gettext(label) if label else ""
    limit_of = _limit_package(problem.field)
    if limit_of is not None:  # one limit per package: "Limit for Webex Calling"
        params["field"] = gettext(LIMIT_FOR) % {"package": gettext(package_label(limit_of))}
    keys = [f"{problem.code}/{problem.reason}"] if problem.reason else []
    key = field_key(problem.field)
    if key:
        keys += [f"{problem.code}/{key}", f"{problem.code}/{key.rsplit('.', 1)[-1]}"]
    for candidate in keys:
        wording = MESSAGES.get(candidate)
        if wording is not None and (label or "%(field)s" not in wording):
            return gettext(wording) % params
    if is_message(problem.description) and not WIRE_PATH.search(problem.description):
        return gettext(problem.description)  # a refusal the portal already words as it is
    wording = MESSAGES.get(str(problem.code))
    if wording is not None and (label or "%(field)s" not in wording):
        return gettext(wording) % params
    if label:
        wording = BY_STATUS.get(problem.status, BY_STATUS[400])
        return gettext(wording) % params
    return gettext(NO_FIELD.get(problem.status, REFUSED))


def problems_of(exc: ApiError) -> list[ApiError]:
    """Every problem of a refusal (a :class:`ValidationFailed` carries several)."""
    return list(getattr(exc, "problems", None) or [exc])


def field_messages(
    exc: ApiError | Iterable[ApiError], lang: str, form_field: Callable[[str | None], str]
) -> dict[str, str]:
    """``{form field: message}`` for every problem (the first per field), the form field
    given by *form_field* from the problem's wire field."""
    problems = problems_of(exc) if isinstance(exc, ApiError) else list(exc)
    out: dict[str, str] = {}
    for problem in problems:
        out.setdefault(form_field(problem.field), describe(problem, lang))
    return out


def described(exc: ApiError, lang: str) -> str:
    """Every problem of a refusal, translated, in one line."""
    return "; ".join(dict.fromkeys(describe(p, lang) for p in problems_of(exc)))


# The catalog's names the pages show (package names, partner and customer roles), marked here
# so that they are extracted and translated; tests/portal/test_messages.py checks this list
# against partnerhub.catalog, so a new package or role cannot be shown untranslated.
CATALOG_LABELS = (
    N_("Webex Common Area Calling"),
    N_("Webex Calling"),
    N_("Webex Meetings"),
    N_("Webex Suite"),
    N_("Webex Voice"),
    N_("Customer Assist"),
    N_("Webex Calling Standard"),
    N_("Cisco Calling Plan"),
    N_("Attendant Console"),
    N_("Contact Center Premium Agent"),
    N_("Contact Center Standard Agent"),
    N_("Contact Center Voice Ports"),
    N_("Contact Center AI Assistant"),
    N_("Webex AI Agent"),
    N_("Full administrator"),
    N_("Administrator"),
    N_("Read-only administrator"),
    N_("Sales administrator"),
    N_("User administrator"),
    N_("Support administrator"),
    N_("Location administrator"),
    N_("Every setting and every user of the organization."),
    N_("Adds, changes and removes users and their licenses."),
    N_("Sees every setting and user, changes nothing."),
    N_("Troubleshooting: reports, logs and the users' devices."),
    N_("Users, numbers and calling settings of the organization's locations."),
)
# Refusals raised outside the portal that its pages show as they are.
SHOWN_MESSAGES = (N_("Import not found"), N_("Webhook not found"))
