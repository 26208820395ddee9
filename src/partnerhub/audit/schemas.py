"""Wire models of the audit API: the vendor's ``adminAudit`` shapes (docs/api-compatibility.md)."""

from __future__ import annotations

from partnerhub.kit.schemas import Schema, UtcDatetime


class AuditEventData(Schema):
    actor_name: str
    actor_email: str
    actor_org_name: str
    admin_roles: list[str]
    actor_ip: str
    actor_user_agent: str
    tracking_id: str
    target_type: str
    target_id: str
    target_name: str
    target_org_id: str
    target_org_name: str
    event_category: str
    event_description: str
    action_text: str
    # hub: the before/after values of a change ({field: [before, after]}) and the action's verb
    changes: dict[str, list[object]]
    action: str


class AuditEventOut(Schema):
    id: str
    created: UtcDatetime
    actor_id: str
    actor_org_id: str
    data: AuditEventData


class AuditEventList(Schema):
    items: list[AuditEventOut]


class EventCategories(Schema):
    event_categories: list[str]
