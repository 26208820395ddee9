"""The facts a bulk import's rules need (users holding its emails, the e-mail domains another
partner family's identity provider claims, inventory facts of its numbers, owners of its
extensions, package counts), loaded with a few set queries and updated
row by row as rows claim what they take (:meth:`MemoryFacts.claim`), so that two rows claiming
one number conflict exactly as two requests would."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from partnerhub import ids
from partnerhub.catalog import phones
from partnerhub.identity.repository import IdentityEmailRepository
from partnerhub.kit.validators import email_domain, normalize_email
from partnerhub.models import Customer, Location
from partnerhub.models.identity_email import PARTNER_ADMIN
from partnerhub.subscribers import service
from partnerhub.subscribers.imports.reading import Row
from partnerhub.subscribers.repository import EmailUser, NumberFact, SubscriberRepository


class MemoryFacts(service.Facts):
    """Facts for a whole file, loaded with a few queries and updated row by row."""

    def __init__(self, customer: Customer) -> None:
        self.customer = customer
        self.emails: dict[str, list[EmailUser]] = {}
        self.admin_emails: set[str] = set()  # held by partner administrators
        self.domains: set[str] = set()  # the e-mail domains looked up
        self.other_family_domains: set[str] = set()  # claimed outside the partner's family
        self.by_id: dict[uuid.UUID, Location] = {}
        self.by_name: dict[str, Location] = {}
        self.hq: Location | None = None
        self.numbers: dict[str, NumberFact] = {}
        self.extensions: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
        self.counts: dict[str, int] = {}
        self.parsed: dict[str, str | None] = {}
        self.same: dict[Any, Any] = {}  # one object for equal values read from the database
        # What this file's rows took: email → (user, roles, status, package) per row,
        # number → (location, user).
        self.claimed_emails: dict[str, list[tuple[uuid.UUID, tuple[str, ...], str, str]]] = {}
        self.claimed_numbers: dict[str, tuple[uuid.UUID, uuid.UUID]] = {}

    @classmethod
    async def load(
        cls, repo: SubscriberRepository, customer: Customer, rows: Iterable[Row]
    ) -> MemoryFacts:
        """Facts for a few rows given as values (the portal's "Add users" form)."""
        self = cls(customer)
        rows = list(rows)
        await self.load_locations(repo)
        emails: set[str] = set()
        pairs: set[tuple[uuid.UUID, str]] = set()
        for r in rows:
            raw_email = (r.values.get("email") or "").strip()
            if raw_email:
                emails.add(raw_email.lower())
                normalized = normalize_email(raw_email)
                if normalized is not None:
                    emails.add(normalized.lower())
            raw = (r.values.get("phone_number") or "").strip()
            if raw and raw not in self.parsed:
                self.parsed[raw] = phones.parse_e164(raw)
            ext = (r.values.get("extension") or "").strip()
            ref = (r.values.get("location") or "").strip()
            target = self.resolve(ref) if ref else self.hq
            if ext and target is not None:
                pairs.add((target.id, ext))
        numbers = {e164 for e164 in self.parsed.values() if e164}
        await self.load_more(repo, emails, numbers, pairs)
        await self.load_counts(repo)
        return self

    async def load_locations(self, repo: SubscriberRepository) -> None:
        from partnerhub.locations.service import headquarters_of

        await headquarters_of(repo.session, self.customer)
        for loc in await repo.locations_of(self.customer.id):
            self.by_id[loc.id] = loc
            self.same[loc.id] = loc.id
            self.by_name.setdefault(loc.name.lower(), loc)
            if loc.headquarters:
                self.hq = loc

    async def lock_limited(self, repo: SubscriberRepository) -> None:
        """Lock every package of the customer that has a limit (a file may use any)."""
        params = self.customer.provisioning_parameters or {}
        for package in sorted((params.get("packages") or {}).get("limits") or {}):
            if service.package_limit(self.customer, package) is not None:
                await repo.lock_package(self.customer.id, package)

    async def load_counts(self, repo: SubscriberRepository) -> None:
        self.counts = await repo.package_counts(self.customer.id)

    async def load_more(
        self,
        repo: SubscriberRepository,
        emails: set[str],
        numbers: set[str],
        pairs: set[tuple[uuid.UUID, str]],
    ) -> None:
        """The users holding ``emails``, the inventory facts of ``numbers`` and the owners of
        the ``(location, extension)`` pairs. A key already known (found, or claimed by a row)
        is not looked up again, so what rows have claimed stays; asking again for one found
        nowhere changes nothing. Keys that cannot pass their rule are not looked up."""
        addresses = sorted(
            e
            for e in emails
            if e not in self.emails and e not in self.claimed_emails and "\n" not in e
        )
        for user in await repo.import_email_users(addresses, self.same):
            self.emails.setdefault(user.email, []).append(user)
        identities = IdentityEmailRepository(repo.session)
        self.admin_emails |= await identities.partner_admin_emails(addresses)
        domains = {d for d in map(email_domain, addresses) if d} - self.domains
        self.domains |= domains
        self.other_family_domains |= await identities.other_family_domains(
            domains, self.customer.partner_id
        )
        wanted = sorted(n for n in numbers if n not in self.numbers)
        for fact in await repo.import_number_facts(self.customer.id, wanted, self.same):
            self.numbers[fact.phone_number] = fact
        valid = [
            p for p in pairs if p not in self.extensions and service.EXTENSION_RE.fullmatch(p[1])
        ]
        self.extensions.update(await repo.import_extension_owners(valid, self.same))

    def resolve(self, ref: str) -> Location | None:
        location_id = ids.decode("LOCATION", ref)
        if location_id is not None and location_id in self.by_id:
            return self.by_id[location_id]
        return self.by_name.get(ref.strip().lower())

    def mine(self, email: str) -> uuid.UUID | None:
        """The user of this customer with ``email``: already there, or a new row of this
        file."""
        for user in self.emails.get(email, ()):
            if user.customer_id == self.customer.id:
                return user.id
        claims = self.claimed_emails.get(email)
        return claims[0][0] if claims else None

    async def identity_kind(self, email: str) -> str | None:
        return PARTNER_ADMIN if email.lower() in self.admin_emails else None

    async def domain_of_another_family(self, email: str) -> bool:
        return bool(self.other_family_domains) and email_domain(email) in self.other_family_domains

    async def email_users(self, email: str) -> list[EmailUser]:
        found = self.emails.get(email, [])
        claims = self.claimed_emails.get(email)
        if not claims:
            return found
        customer = self.customer
        return found + [
            EmailUser(user_id, email, customer.partner_id, customer.id, roles, status, package)
            for user_id, roles, status, package in claims
        ]

    async def location(self, ref: str) -> Location | None:
        return self.resolve(ref)

    async def location_by_id(self, location_id: uuid.UUID) -> Location | None:
        return self.by_id.get(location_id)

    async def headquarters(self) -> Location | None:
        return self.hq

    async def number(self, e164: str) -> NumberFact | None:
        claimed = self.claimed_numbers.get(e164)
        if claimed is not None:
            return NumberFact(e164, claimed[0], False, claimed[1])
        return self.numbers.get(e164)

    async def extension_owner(self, location_id: uuid.UUID, extension: str) -> uuid.UUID | None:
        return self.extensions.get((location_id, extension))

    async def package_count(self, package: str) -> int:
        return self.counts.get(package, 0)

    def parse_number(self, raw: str) -> str | None:
        if raw in self.parsed:
            return self.parsed[raw]
        return super().parse_number(raw)

    def claim(self, user_id: uuid.UUID, plan: service.Plan) -> None:
        """Record a planned row, so that later rows see it as a request would: its email
        taken (a user of this customer), its number owned, its extension used, its package
        counted."""
        claim = (user_id, tuple(plan.roles), plan.status, plan.package)
        self.claimed_emails.setdefault(plan.email, []).append(claim)
        if plan.phone_number and plan.location_id:
            self.claimed_numbers[plan.phone_number] = (plan.location_id, user_id)
        if plan.extension and plan.location_id:
            self.extensions[(plan.location_id, plan.extension)] = user_id
        self.counts[plan.package] = self.counts.get(plan.package, 0) + 1
