"""The reference-data package: plain tests, no database, no shared fixtures."""

from __future__ import annotations

import re
import string
import zoneinfo

import phonenumbers
import pycountry
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from partnerhub.catalog import geo, languages, packages, phones, regions, timezones

ALL_ALPHA2 = sorted(c.alpha_2 for c in pycountry.countries)
NO_DB = settings(database=None, deadline=None)

CALLING_SIX = {
    "common_area_calling",
    "webex_calling",
    "webex_suite",
    "webex_voice",
    "cx_essentials",
    "webex_calling_standard",
}


# --- packages (CONTRACT section 3) -------------------------------------------------------


def test_customer_packages_are_the_contract_list() -> None:
    assert packages.CUSTOMER_PACKAGES == (
        "common_area_calling",
        "webex_calling",
        "webex_meetings",
        "webex_suite",
        "webex_voice",
        "cx_essentials",
        "webex_calling_standard",
        "cisco_calling_plan",
        "attendant_console",
        "cx_premium_agent",
        "cx_standard_agent",
        "cx_voice_ports",
        "cx_ai_assistant",
        "webex_ai_agent",
    )
    assert list(packages.PACKAGES) == list(packages.CUSTOMER_PACKAGES)


def test_subscriber_and_legacy_packages() -> None:
    assert packages.SUBSCRIBER_PACKAGES == (
        "webex_calling",
        "webex_meetings",
        "webex_suite",
        "webex_voice",
        "cx_essentials",
        "webex_calling_standard",
        "attendant_console",
        "cx_premium_agent",
        "cx_standard_agent",
    )
    assert packages.LEGACY_SUBSCRIBER_PACKAGES == packages.SUBSCRIBER_PACKAGES[:6]


def test_calling_packages() -> None:
    assert set(packages.CALLING_PACKAGES) == CALLING_SIX
    assert packages.has_calling(["webex_meetings", "webex_voice"])
    assert not packages.has_calling(["webex_meetings", "cisco_calling_plan", "cx_voice_ports"])
    assert not packages.has_calling([])
    assert not packages.has_calling(["no_such_package"])


def test_addons_and_dependencies() -> None:
    addons = {name for name, p in packages.PACKAGES.items() if p.addon}
    assert addons == {"cisco_calling_plan", "attendant_console"}
    deps = {name: p.requires_one_of for name, p in packages.PACKAGES.items() if p.requires_one_of}
    assert deps == {
        "cisco_calling_plan": frozenset(CALLING_SIX),
        "attendant_console": frozenset({"webex_calling", "webex_suite", "cx_essentials"}),
    }
    for name, p in packages.PACKAGES.items():
        assert p.name == name
        assert p.label
        assert p.requires_one_of <= set(packages.PACKAGES)


def test_unmet_dependencies() -> None:
    assert packages.unmet_dependencies([]) == []
    assert packages.unmet_dependencies(["cisco_calling_plan"]) == [
        ("cisco_calling_plan", frozenset(CALLING_SIX))
    ]
    for base in CALLING_SIX:
        assert packages.unmet_dependencies(["cisco_calling_plan", base]) == []
    assert packages.unmet_dependencies(["attendant_console", "webex_voice"]) == [
        ("attendant_console", frozenset({"webex_calling", "webex_suite", "cx_essentials"}))
    ]
    for base in ("webex_calling", "webex_suite", "cx_essentials"):
        assert packages.unmet_dependencies([base, "attendant_console"]) == []
    assert [
        p
        for p, _ in packages.unmet_dependencies(
            ["attendant_console", "cisco_calling_plan", "attendant_console", "webex_meetings"]
        )
    ] == ["attendant_console", "cisco_calling_plan"]
    assert packages.unmet_dependencies(["nope", "webex_meetings"]) == []


def test_tiers() -> None:
    assert packages.tier("webex_suite") == 4
    assert packages.tier("webex_calling") == 3
    assert (
        packages.tier("webex_calling_standard")
        == packages.tier("webex_voice")
        == packages.tier("cx_essentials")
        == 2
    )
    assert packages.tier("webex_meetings") == 1
    tiered = {"webex_suite", "webex_calling", "webex_calling_standard", "webex_voice",
              "cx_essentials", "webex_meetings"}  # fmt: skip
    for name in packages.PACKAGES:
        assert (packages.tier(name) is not None) == (name in tiered)
    assert packages.tier("nope") is None


def test_highest_tier() -> None:
    assert packages.highest_tier([]) is None
    assert packages.highest_tier(["cisco_calling_plan", "cx_voice_ports"]) is None
    assert packages.highest_tier(["webex_meetings", "webex_suite", "webex_calling"]) == (
        "webex_suite"
    )
    assert packages.highest_tier(["webex_meetings", "webex_voice"]) == "webex_voice"
    # ties are broken by catalog order, whatever the input order
    tie = ["webex_calling_standard", "cx_essentials", "webex_voice"]
    assert packages.highest_tier(tie) == packages.highest_tier(reversed(tie)) == "webex_voice"


def test_is_downgrade() -> None:
    assert packages.is_downgrade("webex_suite", "webex_calling")
    assert packages.is_downgrade("webex_calling", "webex_meetings")
    assert packages.is_downgrade("webex_calling", "attendant_console")
    assert not packages.is_downgrade("webex_voice", "cx_essentials")
    assert not packages.is_downgrade("webex_meetings", "webex_suite")
    assert not packages.is_downgrade("cx_premium_agent", "webex_meetings")


@NO_DB
@given(st.lists(st.sampled_from([*packages.PACKAGES, "unknown"]), max_size=8))
def test_package_helpers_agree_with_the_table(chosen: list[str]) -> None:
    unmet = dict(packages.unmet_dependencies(chosen))
    for name in set(chosen) & set(packages.PACKAGES):
        needed = packages.PACKAGES[name].requires_one_of
        assert (name in unmet) == bool(needed and not needed & set(chosen))
    assert packages.has_calling(chosen) == bool(set(chosen) & CALLING_SIX)
    best = packages.highest_tier(chosen)
    ranks = [r for r in map(packages.tier, chosen) if r is not None]
    assert (best is None) == (not ranks)
    if best is not None:
        assert packages.tier(best) == max(ranks)
        assert packages.highest_tier(sorted(chosen)) == best


# --- regions -----------------------------------------------------------------------------


def test_regions_table() -> None:
    assert set(regions.REGIONS) == {"US", "EU", "UK", "CA", "JP", "AU", "SG", "SA", "AE"}
    for code, region in regions.REGIONS.items():
        assert region.code == code
        assert region.label
        assert regions.is_region(code)
    assert not regions.is_region("eu")
    assert not regions.is_region("XX")
    assert not regions.is_region(None)
    assert regions.is_region(regions.DEFAULT_REGION)


def test_region_overrides_are_real_countries() -> None:
    for code, region in regions.REGION_OVERRIDES.items():
        assert pycountry.countries.get(alpha_2=code) is not None, code
        assert regions.is_region(region), (code, region)


def test_region_override_lists_are_disjoint() -> None:
    # REGION_OVERRIDES is built from one list per region: a code in two lists would be lost.
    total = sum(len(codes) for codes in regions._OVERRIDES_BY_REGION.values())
    assert total == len(regions.REGION_OVERRIDES)


@pytest.mark.parametrize("alpha2", ALL_ALPHA2)
def test_every_country_has_a_region(alpha2: str) -> None:
    assert regions.is_region(regions.region_for_country(alpha2))


def test_every_region_has_a_country() -> None:
    for code in regions.REGIONS:
        assert regions.countries_in_region(code), code
    assert sum(len(regions.countries_in_region(r)) for r in regions.REGIONS) == len(ALL_ALPHA2)


@pytest.mark.parametrize(
    ("alpha2", "region"),
    [
        ("US", "US"), ("DE", "EU"), ("GB", "UK"), ("JP", "JP"), ("AU", "AU"), ("SG", "SG"),
        ("AE", "AE"), ("SA", "SA"), ("CA", "CA"), ("BR", "US"), ("IT", "EU"), ("MX", "US"),
        ("AR", "US"), ("PR", "US"), ("GU", "US"), ("NZ", "AU"), ("FJ", "AU"), ("IN", "SG"),
        ("CN", "SG"), ("KR", "SG"), ("QA", "AE"), ("KW", "AE"), ("JO", "SA"), ("IQ", "SA"),
        ("ZA", "EU"), ("EG", "EU"), ("TR", "EU"), ("IL", "EU"), ("RU", "EU"), ("JE", "UK"),
        ("GL", "EU"), ("GP", "EU"), ("BM", "US"), ("CX", "AU"), ("it", "EU"), (" gb ", "UK"),
    ],
)  # fmt: skip
def test_region_spot_checks(alpha2: str, region: str) -> None:
    assert regions.region_for_country(alpha2) == region


@pytest.mark.parametrize("bad", ["", "XX", "ITA", "1", "Italy", "U$"])
def test_region_for_unknown_country(bad: str) -> None:
    with pytest.raises(ValueError):
        regions.region_for_country(bad)


# --- geo: countries, subdivisions, addresses ---------------------------------------------


def test_country_lookup() -> None:
    italy = geo.country("it")
    assert italy is not None
    assert italy.alpha_2 == "IT"
    assert geo.country("IT") == italy
    for bad in ("ITA", "Italy", "", "XX", "I", "380"):
        assert geo.country(bad) is None


def test_country_choices() -> None:
    english = geo.country_choices()
    assert {code for code, _ in english} == set(ALL_ALPHA2)
    assert len(english) == len(ALL_ALPHA2)
    assert ("IT", "Italy") in english
    assert ("TW", "Taiwan") in english
    italian = dict(geo.country_choices("it"))
    assert italian["DE"] == "Germania"
    assert italian["US"] == "Stati Uniti"
    assert len(italian) == len(ALL_ALPHA2)
    for choices in (english, geo.country_choices("it")):
        keys = [geo._fold(name) for _, name in choices]
        assert keys == sorted(keys)
    # an unknown locale falls back to English
    assert geo.country_choices("xx") == english
    # the result is a fresh list each time
    english.clear()
    assert geo.country_choices()


def test_country_name() -> None:
    assert geo.country_name("de") == "Germany"
    assert geo.country_name("DE", "it") == "Germania"
    assert geo.country_name("XX") is None


def test_subdivisions() -> None:
    us = geo.subdivision_codes("us")
    assert "US-CA" in us
    assert "US-NY" in us
    assert all(code.startswith("US-") for code in us)
    assert geo.subdivision_codes("XX") == set()
    assert geo.normalize_subdivision("US", "CA") == "US-CA"
    assert geo.normalize_subdivision("US", "us-ca") == "US-CA"
    assert geo.normalize_subdivision("us", " ca ") == "US-CA"
    assert geo.normalize_subdivision("US", "California") == "US-CA"
    assert geo.normalize_subdivision("US", "ZZ") is None
    assert geo.normalize_subdivision("US", "CA-ON") is None
    assert geo.normalize_subdivision("US", "") is None
    assert geo.normalize_subdivision("XX", "CA") is None
    assert geo.normalize_subdivision("IT", "MI") == "IT-MI"
    assert geo.normalize_subdivision("IT", "lombardia") == "IT-25"
    assert geo.normalize_subdivision("JP", "Tokyo") == "JP-13"
    assert geo.normalize_subdivision("CA", "ON") == "CA-ON"
    # a name shared by a province and its autonomous community: the top-level one wins
    assert geo.normalize_subdivision("ES", "La Rioja") == "ES-RI"


@pytest.mark.parametrize("alpha2", ["US", "IT", "FR", "GB", "JP", "BR"])
def test_every_subdivision_normalizes_in_both_forms(alpha2: str) -> None:
    for code in geo.subdivision_codes(alpha2):
        assert geo.normalize_subdivision(alpha2, code) == code
        assert geo.normalize_subdivision(alpha2, code.split("-", 1)[1].lower()) == code


def test_address_rules_are_keyed_by_real_countries() -> None:
    required = {"US", "CA", "AU", "BR", "MX", "IN", "JP", "CN", "IT", "ES", "DE", "FR", "GB",
                "NL", "IE"}  # fmt: skip
    assert required <= set(geo.ADDRESS_RULES)
    for code, rule in geo.ADDRESS_RULES.items():
        assert pycountry.countries.get(alpha_2=code) is not None, code
        assert rule.state_required or rule.postal_required or rule.postal_pattern
        if rule.postal_pattern is not None:
            re.compile(rule.postal_pattern)
        if rule.state_required:
            assert geo.subdivision_codes(code), code
    assert not geo.address_rule("IE").postal_required
    assert geo.address_rule("IE").postal_pattern is not None
    assert geo.address_rule("AQ") == geo.AddressRule()
    assert geo.address_rule("us") == geo.ADDRESS_RULES["US"]


def test_validate_address_us() -> None:
    assert geo.validate_address("US", None, "94105") == [
        ("stateOrProvince", "stateOrProvince is required for country US")
    ]
    assert geo.validate_address("US", "  ", "94105")[0][0] == "stateOrProvince"
    assert geo.validate_address("US", "CA", "94105") == []
    assert geo.validate_address("US", "US-CA", "94105-1234") == []
    assert geo.validate_address("us", "ca", "94105") == []
    assert [f for f, _ in geo.validate_address("US", "Bogus", "94105")] == ["stateOrProvince"]
    assert [f for f, _ in geo.validate_address("US", "CA", None)] == ["zipOrPostalCode"]
    assert [f for f, _ in geo.validate_address("US", "CA", "9410")] == ["zipOrPostalCode"]
    assert [f for f, _ in geo.validate_address("US", "XX", "ABCDE")] == [
        "stateOrProvince",
        "zipOrPostalCode",
    ]


def test_validate_address_it_and_others() -> None:
    assert geo.validate_address("IT", "MI", "20121") == []
    assert geo.validate_address("IT", "IT-RM", "00184") == []
    assert [f for f, _ in geo.validate_address("IT", "MI", "2012")] == ["zipOrPostalCode"]
    assert [f for f, _ in geo.validate_address("IT", "MI", "2012A")] == ["zipOrPostalCode"]
    assert [f for f, _ in geo.validate_address("IT", None, "20121")] == ["stateOrProvince"]
    assert geo.validate_address("CA", "ON", "k1a 0b1") == []
    assert geo.validate_address("GB", None, "SW1A 1AA") == []
    assert geo.validate_address("GB", "GB-LND", "EC1A1BB") == []
    assert [f for f, _ in geo.validate_address("GB", None, "12345")] == ["zipOrPostalCode"]
    assert geo.validate_address("NL", None, "1012 AB") == []
    assert geo.validate_address("DE", None, "10115") == []
    assert geo.validate_address("JP", "13", "100-0001") == []
    assert geo.validate_address("IE", None, None) == []
    assert geo.validate_address("IE", None, "D02 X285") == []
    assert [f for f, _ in geo.validate_address("IE", None, "12345")] == ["zipOrPostalCode"]
    # the default: nothing required, free text where there are no subdivisions
    assert geo.validate_address("AQ", "anything", "anything") == []
    assert geo.validate_address("AE", None, None) == []


def test_validate_address_country_and_field_names() -> None:
    assert [f for f, _ in geo.validate_address("XX", None, None)] == ["country"]
    assert [f for f, _ in geo.validate_address(None, None, None)] == ["country"]
    assert [f for f, _ in geo.validate_address("Italy", "MI", "20121")] == ["country"]
    assert geo.validate_address(
        "US", None, None, state_field="state", postal_field="postalCode"
    ) == [
        ("state", "state is required for country US"),
        ("postalCode", "postalCode is required for country US"),
    ]


@NO_DB
@given(
    country=st.sampled_from(ALL_ALPHA2) | st.text(max_size=4),
    state=st.none() | st.text(max_size=12),
    postal=st.none() | st.text(max_size=12),
)
def test_validate_address_never_raises(country: str, state: str | None, postal: str | None) -> None:
    problems = geo.validate_address(country, state, postal)
    assert all(field in {"country", "stateOrProvince", "zipOrPostalCode"} for field, _ in problems)
    assert len({field for field, _ in problems}) == len(problems)


@NO_DB
@given(zip5=st.from_regex(r"\A[0-9]{5}\Z"), data=st.data())
def test_any_real_state_and_five_digit_zip_is_a_valid_us_address(
    zip5: str, data: st.DataObject
) -> None:
    code = data.draw(st.sampled_from(sorted(geo.subdivision_codes("US"))))
    short = code.removeprefix("US-")
    state = data.draw(st.sampled_from([code, short, short.lower(), f" {code.lower()} "]))
    assert geo.validate_address("US", state, zip5) == []


# --- languages ---------------------------------------------------------------------------


def test_supported_email_languages_are_real() -> None:
    assert "en_US" in languages.SUPPORTED_EMAIL_LANGUAGES
    assert "it_IT" in languages.SUPPORTED_EMAIL_LANGUAGES
    assert languages.DEFAULT_EMAIL_LANGUAGE in languages.SUPPORTED_EMAIL_LANGUAGES
    assert len(set(languages.SUPPORTED_EMAIL_LANGUAGES)) == len(languages.SUPPORTED_EMAIL_LANGUAGES)
    for code in languages.SUPPORTED_EMAIL_LANGUAGES:
        language, country = code.split("_")
        assert pycountry.languages.get(alpha_2=language) is not None, code
        assert pycountry.countries.get(alpha_2=country) is not None, code
        assert languages.normalize_language(code) == code


def test_portal_locales() -> None:
    assert languages.PORTAL_LOCALES == ("en", "it")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("en", "en"), ("EN", "en"), ("en_US", "en_US"), ("en-US", "en_US"), ("en-us", "en_US"),
        (" it_it ", "it_IT"), ("pt_BR", "pt_BR"), ("xx", None), ("en_XX", None), ("eng", None),
        ("english", None), ("zh-Hans", None), ("en-", None), ("", None), ("en__US", None),
    ],
)  # fmt: skip
def test_normalize_language(value: str, expected: str | None) -> None:
    assert languages.normalize_language(value) == expected


def test_normalize_language_rejects_non_strings() -> None:
    assert languages.normalize_language(None) is None
    assert languages.normalize_language(42) is None


@NO_DB
@given(st.text(alphabet=string.ascii_letters + "-_ ", max_size=7))
def test_normalize_language_is_idempotent(value: str) -> None:
    normalized = languages.normalize_language(value)
    if normalized is not None:
        assert languages.normalize_language(normalized) == normalized
        assert re.fullmatch(r"[a-z]{2}(_[A-Z]{2})?", normalized)


def test_language_label() -> None:
    assert languages.language_label("en_US") == "English (United States)"
    assert languages.language_label("en-us") == "English (United States)"
    assert languages.language_label("it") == "Italian"
    assert languages.language_label("en_US", "it") == "Inglese (Stati Uniti)"
    assert languages.language_label("it_IT", "it") == "Italiano (Italia)"
    assert languages.language_label("bogus") == "bogus"
    for code in languages.SUPPORTED_EMAIL_LANGUAGES:
        for locale in languages.PORTAL_LOCALES:
            assert languages.language_label(code, locale)[0].isupper()


# --- time zones --------------------------------------------------------------------------


def test_is_timezone() -> None:
    assert timezones.is_timezone("Europe/Rome")
    assert timezones.is_timezone("America/New_York")
    assert timezones.is_timezone("UTC")
    assert not timezones.is_timezone("europe/rome")
    assert not timezones.is_timezone("Mars/Olympus_Mons")
    assert not timezones.is_timezone("")
    assert not timezones.is_timezone(None)


def test_timezones_for_country() -> None:
    assert timezones.timezones_for_country("IT") == ["Europe/Rome"]
    us = timezones.timezones_for_country("us")
    assert us[0] == "America/New_York"
    assert {"America/Chicago", "America/Los_Angeles", "Pacific/Honolulu"} <= set(us)
    assert "Australia/Sydney" in timezones.timezones_for_country("AU")
    assert timezones.principal_timezone("GB") == "Europe/London"
    assert timezones.principal_timezone("XX") is None
    assert timezones.timezones_for_country("XX") == []
    assert timezones.timezones_for_country("") == []


def test_every_inhabited_country_has_loadable_zones() -> None:
    uninhabited_without_zone = {"BV", "HM"}
    for alpha2 in ALL_ALPHA2:
        zones = timezones.timezones_for_country(alpha2)
        if alpha2 in uninhabited_without_zone:
            continue
        assert zones, alpha2
        for zone in zones:
            assert timezones.is_timezone(zone)
            zoneinfo.ZoneInfo(zone)


# --- phone numbers -----------------------------------------------------------------------


def test_parse_e164() -> None:
    assert phones.parse_e164("+390212345678") == "+390212345678"
    assert phones.parse_e164(" +39 02 1234 5678 ") == "+390212345678"
    assert phones.parse_e164("+1 (416) 555-0123") == "+14165550123"
    assert phones.parse_e164("(201) 555-0123", "US") == "+12015550123"
    assert phones.parse_e164("(201) 555-0123") is None
    assert phones.parse_e164("() - .") is None
    assert phones.parse_e164("02 1234 5678") is None  # national form needs a region
    assert phones.parse_e164("02 1234 5678", "IT") == "+390212345678"
    assert phones.parse_e164("02 1234 5678", "it") == "+390212345678"
    assert phones.parse_e164("+1 800 FLOWERS") is None
    assert phones.parse_e164("+39 12") is None
    assert phones.parse_e164("") is None
    assert phones.parse_e164("+") is None
    assert phones.parse_e164("+" + "9" * 60) is None
    assert phones.parse_e164(None) is None


def test_number_country_and_validity() -> None:
    assert phones.number_country("+390212345678") == "IT"
    assert phones.number_country("+14165550123") == "CA"
    assert phones.number_country("+12025550123") == "US"
    assert phones.number_country("+80012345678") is None  # non-geographic
    assert phones.number_country("not a number") is None
    assert phones.is_valid_for_country("+14165550123", "CA")
    assert not phones.is_valid_for_country("+14165550123", "US")
    assert phones.is_valid_for_country("+390212345678", "it")
    assert not phones.is_valid_for_country("+390212345678", "FR")
    assert not phones.is_valid_for_country("0212345678", "IT")  # not international


@NO_DB
@given(st.sampled_from([c for c in ALL_ALPHA2 if phonenumbers.example_number(c) is not None]))
def test_example_numbers_round_trip(alpha2: str) -> None:
    example = phonenumbers.example_number(alpha2)
    assert example is not None
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    assert phones.parse_e164(e164) == e164
    assert phones.is_valid_for_country(e164, alpha2)
    national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    assert phones.parse_e164(national, alpha2) == e164


@NO_DB
@given(st.text(alphabet="+0123456789 ()-./a", max_size=24))
def test_parse_e164_is_a_fixed_point(value: str) -> None:
    e164 = phones.parse_e164(value)
    if e164 is not None:
        assert re.fullmatch(r"\+[1-9]\d{1,14}", e164)
        assert phones.parse_e164(e164) == e164
