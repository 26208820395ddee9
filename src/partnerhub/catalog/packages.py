"""The package catalog (CONTRACT section 3) as data.

Labels are the vendor's package names from the published OpenAPI file (``cx_essentials``
is sold as "Customer Assist").

Every rule about packages reads this table; nothing else in the code names packages in
``if`` chains. :data:`PACKAGES` keeps the contract's order, which is also the tie-break
order of :func:`highest_tier`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = [
    "CALLING_PACKAGES",
    "CUSTOMER_PACKAGES",
    "LEGACY_SUBSCRIBER_PACKAGES",
    "PACKAGES",
    "SUBSCRIBER_PACKAGES",
    "Package",
    "has_calling",
    "highest_tier",
    "is_downgrade",
    "tier",
    "unmet_dependencies",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Package:
    """One package of the wholesale catalog.

    ``customer``/``subscriber``: allowed in a customer's / a subscriber's ``packages``;
    ``legacy_subscriber``: also accepted in the deprecated singular subscriber ``package``;
    ``calling``: needs a calling location (customer) and a number or extension (subscriber);
    ``addon``: sold on top of a base package; ``requires_one_of``: at least one of these
    must be in the same package list; ``tier``: rank for the administrator rule (higher is
    more), ``None`` when the package has no rank.
    """

    name: str
    customer: bool = False
    subscriber: bool = False
    legacy_subscriber: bool = False
    calling: bool = False
    addon: bool = False
    requires_one_of: frozenset[str] = frozenset()
    tier: int | None = None
    label: str


_CALLING_SIX: Final = frozenset(
    {
        "common_area_calling",
        "webex_calling",
        "webex_suite",
        "webex_voice",
        "cx_essentials",
        "webex_calling_standard",
    }
)


def _seat(name: str, label: str, *, tier: int, calling: bool = True) -> Package:
    """A tiered package sold to customers and assigned per subscriber, also in the deprecated
    singular subscriber ``package``."""
    return Package(
        name=name,
        customer=True,
        subscriber=True,
        legacy_subscriber=True,
        calling=calling,
        tier=tier,
        label=label,
    )


# One entry per package, in the contract's order; flags left out are False.
_CATALOG: Final = (
    Package(
        name="common_area_calling", customer=True, calling=True, label="Webex Common Area Calling"
    ),
    _seat("webex_calling", "Webex Calling", tier=3),
    _seat("webex_meetings", "Webex Meetings", tier=1, calling=False),
    _seat("webex_suite", "Webex Suite", tier=4),
    _seat("webex_voice", "Webex Voice", tier=2),
    _seat("cx_essentials", "Customer Assist", tier=2),
    _seat("webex_calling_standard", "Webex Calling Standard", tier=2),
    Package(
        name="cisco_calling_plan",
        customer=True,
        addon=True,
        requires_one_of=_CALLING_SIX,
        label="Cisco Calling Plan",
    ),
    Package(
        name="attendant_console",
        customer=True,
        subscriber=True,
        addon=True,
        requires_one_of=frozenset({"webex_calling", "webex_suite", "cx_essentials"}),
        label="Attendant Console",
    ),
    *(  # the contact-center agent seats: no tier, no calling
        Package(name=name, customer=True, subscriber=True, label=label)
        for name, label in (
            ("cx_premium_agent", "Contact Center Premium Agent"),
            ("cx_standard_agent", "Contact Center Standard Agent"),
        )
    ),
    Package(name="cx_voice_ports", customer=True, label="Contact Center Voice Ports"),
    Package(name="cx_ai_assistant", customer=True, label="Contact Center AI Assistant"),
    Package(name="webex_ai_agent", customer=True, label="Webex AI Agent"),
)

PACKAGES: Final[MappingProxyType[str, Package]] = MappingProxyType({p.name: p for p in _CATALOG})
"""Every package by name, in the contract's order."""

CUSTOMER_PACKAGES: Final = tuple(p.name for p in _CATALOG if p.customer)
SUBSCRIBER_PACKAGES: Final = tuple(p.name for p in _CATALOG if p.subscriber)
LEGACY_SUBSCRIBER_PACKAGES: Final = tuple(p.name for p in _CATALOG if p.legacy_subscriber)
"""Values accepted in the deprecated singular subscriber ``package`` field."""
CALLING_PACKAGES: Final = tuple(p.name for p in _CATALOG if p.calling)

_ORDER: Final = {name: i for i, name in enumerate(PACKAGES)}


def _unique(packages: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(packages))


def unmet_dependencies(packages: Iterable[str]) -> list[tuple[str, frozenset[str]]]:
    """``(package, requires_one_of)`` for each package of the list whose dependency is unmet.

    Order follows the input; duplicates and unknown names are ignored (validating names is
    the caller's job).
    """
    names = _unique(packages)
    present = set(names)
    unmet: list[tuple[str, frozenset[str]]] = []
    for name in names:
        package = PACKAGES.get(name)
        if (
            package is not None
            and package.requires_one_of
            and not (package.requires_one_of & present)
        ):
            unmet.append((name, package.requires_one_of))
    return unmet


def has_calling(packages: Iterable[str]) -> bool:
    """``True`` when any package of the list is a calling package."""
    return any(name in PACKAGES and PACKAGES[name].calling for name in packages)


def tier(package: str) -> int | None:
    """The administrator-rule tier of a package; ``None`` for untiered or unknown names."""
    found = PACKAGES.get(package)
    return found.tier if found is not None else None


def highest_tier(packages: Iterable[str]) -> str | None:
    """The package of highest tier among *packages*; ``None`` when none has a tier.

    Packages of equal tier are ranked by catalog order, so the answer does not depend on
    the order of the input.
    """
    best: str | None = None
    best_key: tuple[int, int] | None = None
    for name in packages:
        rank = tier(name)
        if rank is None:
            continue
        key = (rank, -_ORDER[name])
        if best_key is None or key > best_key:
            best, best_key = name, key
    return best


def is_downgrade(current: str, new: str) -> bool:
    """``True`` when moving from *current* to *new* lowers the tier.

    A *current* package without a tier cannot be downgraded; moving from a tiered package
    to one without a tier is a downgrade.
    """
    old_rank = tier(current)
    if old_rank is None:
        return False
    new_rank = tier(new)
    return new_rank is None or new_rank < old_rank
