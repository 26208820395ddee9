"""Downstream services (identity, calling, meetings, contact center) behind one small
interface per package family.

Provisioning talks to the outside world only through :func:`current`, which returns the
configured :class:`Backend`:

* ``null`` (default): every call succeeds at once; ids are derived from the customer id, so
  calling twice gives the same answer (the idempotency every real backend must offer too).
* ``fault``: the null backend plus latency and failures (settings ``PARTNERHUB_FAULT_*``), to
  show and test retries, ``2560`` warnings and ``provisioned_with_errors``.

A backend raises :class:`TransientError` for "try again later" (the job records a 2560
warning and retries) and :class:`PermanentError` for "this will not work" (the package goes to
``error``). Every call must be idempotent: provisioning re-runs after crashes and retries.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Protocol

from partnerhub import runtime
from partnerhub.catalog.packages import CUSTOMER_PACKAGES, PACKAGES
from partnerhub.config import Settings

__all__ = [
    "FAMILIES",
    "Backend",
    "BackendError",
    "FaultPolicy",
    "OrgRequest",
    "PackageRequest",
    "PermanentError",
    "TransientError",
    "current",
    "family_of",
    "fault_backend",
    "null_backend",
]

_NS: Final = uuid.UUID("5b1f4a8e-3c0d-4a57-9a42-6b1e2f0c7d11")


class BackendError(Exception):
    def __init__(self, service: str, description: str) -> None:
        super().__init__(description)
        self.service = service
        self.description = description


class TransientError(BackendError):
    """The service is unavailable for now; the same call may succeed later."""


class PermanentError(BackendError):
    """The service refused the request; retrying will not help."""


# Package → the downstream service that provisions it.
_CONTACT_CENTER: Final = frozenset(
    {"cx_premium_agent", "cx_standard_agent", "cx_voice_ports", "cx_ai_assistant", "webex_ai_agent"}
)


def _family(name: str) -> str:
    package = PACKAGES[name]
    if name in _CONTACT_CENTER:
        return "contact_center"
    if package.calling or (
        package.requires_one_of and any(PACKAGES[p].calling for p in package.requires_one_of)
    ):
        return "calling"
    return "meetings"


FAMILIES: Final[Mapping[str, str]] = MappingProxyType({p: _family(p) for p in CUSTOMER_PACKAGES})
"""Customer package → family (``calling``, ``meetings``, ``contact_center``)."""


def family_of(package: str) -> str:
    return FAMILIES[package]


@dataclass(frozen=True)
class OrgRequest:
    customer_id: uuid.UUID
    name: str | None
    external_id: str
    data_region: str
    country: str
    existing_org_id: uuid.UUID | None = None  # attach this organization instead of creating


@dataclass(frozen=True)
class PackageRequest:
    customer_id: uuid.UUID
    org_id: uuid.UUID
    package: str
    data_region: str
    parameters: Mapping[str, Any] = field(default_factory=dict)


class IdentityService(Protocol):
    async def create_organization(self, request: OrgRequest, attempt: int) -> uuid.UUID: ...

    async def delete_organization(self, org_id: uuid.UUID, attempt: int) -> None: ...


class PackageService(Protocol):
    async def provision(self, request: PackageRequest, attempt: int) -> dict[str, Any]:
        """Provision one package; returns details worth keeping (location id, SIP domain)."""
        ...

    async def deprovision(self, request: PackageRequest, attempt: int) -> None: ...


@dataclass(frozen=True)
class Backend:
    name: str
    identity: IdentityService
    families: Mapping[str, PackageService]

    def for_package(self, package: str) -> PackageService:
        return self.families[family_of(package)]


# --- null ----------------------------------------------------------------------------------


class NullIdentity:
    async def create_organization(self, request: OrgRequest, attempt: int) -> uuid.UUID:
        if request.existing_org_id is not None:
            return request.existing_org_id
        return uuid.uuid5(_NS, f"org:{request.customer_id}")

    async def delete_organization(self, org_id: uuid.UUID, attempt: int) -> None:
        return None


class NullPackages:
    def __init__(self, family: str) -> None:
        self.family = family

    async def provision(self, request: PackageRequest, attempt: int) -> dict[str, Any]:
        if self.family != "calling":
            return {}
        label = request.org_id.hex[:12]
        return {
            "locationId": str(uuid.uuid5(_NS, f"hq:{request.org_id}")),
            "sipDomain": f"o{label}.{request.data_region.lower()}.sip.partnerhub.invalid",
        }

    async def deprovision(self, request: PackageRequest, attempt: int) -> None:
        return None


def null_backend() -> Backend:
    return Backend(
        name="null",
        identity=NullIdentity(),
        families={f: NullPackages(f) for f in ("calling", "meetings", "contact_center")},
    )


# --- fault ---------------------------------------------------------------------------------


@dataclass
class FaultPolicy:
    latency: float = 0.0  # seconds
    failure_rate: float = 0.0
    transient_attempts: int = 0
    permanent_packages: frozenset[str] = frozenset()
    rng: random.Random = field(default_factory=random.Random)

    async def call(self, service: str, attempt: int, package: str | None = None) -> None:
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if package is not None and package in self.permanent_packages:
            raise PermanentError(service, f"The {service} service refused to provision {package}")
        if attempt < self.transient_attempts or (
            self.failure_rate > 0 and self.rng.random() < self.failure_rate
        ):
            raise TransientError(service, f"The {service} service is unavailable")


class FaultIdentity:
    def __init__(self, policy: FaultPolicy) -> None:
        self.policy = policy
        self.inner = NullIdentity()

    async def create_organization(self, request: OrgRequest, attempt: int) -> uuid.UUID:
        await self.policy.call("identity", attempt)
        return await self.inner.create_organization(request, attempt)

    async def delete_organization(self, org_id: uuid.UUID, attempt: int) -> None:
        await self.policy.call("identity", attempt)


class FaultPackages:
    def __init__(self, family: str, policy: FaultPolicy) -> None:
        self.family = family
        self.policy = policy
        self.inner = NullPackages(family)

    async def provision(self, request: PackageRequest, attempt: int) -> dict[str, Any]:
        await self.policy.call(self.family, attempt, request.package)
        return await self.inner.provision(request, attempt)

    async def deprovision(self, request: PackageRequest, attempt: int) -> None:
        await self.policy.call(self.family, attempt)


def fault_backend(policy: FaultPolicy) -> Backend:
    return Backend(
        name="fault",
        identity=FaultIdentity(policy),
        families={f: FaultPackages(f, policy) for f in ("calling", "meetings", "contact_center")},
    )


# --- selection -----------------------------------------------------------------------------

_cache: dict[tuple[Any, ...], Backend] = {}


def _key(settings: Settings) -> tuple[Any, ...]:
    return (
        settings.backend,
        settings.fault_latency_ms,
        settings.fault_failure_rate,
        settings.fault_transient_attempts,
        settings.fault_permanent_packages,
    )


def from_settings(settings: Settings) -> Backend:
    name = settings.backend.strip().lower()
    if name == "null":
        return null_backend()
    if name == "fault":
        permanent = {p.strip() for p in settings.fault_permanent_packages.split(",") if p.strip()}
        return fault_backend(
            FaultPolicy(
                latency=max(settings.fault_latency_ms, 0) / 1000,
                failure_rate=min(max(settings.fault_failure_rate, 0.0), 1.0),
                transient_attempts=max(settings.fault_transient_attempts, 0),
                permanent_packages=frozenset(permanent),
            )
        )
    raise ValueError(f"PARTNERHUB_BACKEND: unknown backend {settings.backend!r} (null, fault)")


def current() -> Backend:
    """The backend the process's settings name (read on every call, cached per value)."""
    settings = runtime.settings()
    key = _key(settings)
    backend = _cache.get(key)
    if backend is None:
        backend = _cache[key] = from_settings(settings)
    return backend
