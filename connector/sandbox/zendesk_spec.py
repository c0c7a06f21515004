"""Where Zendesk's published OpenAPI file is wrong or silent, for the stand-in and its tests.

The file is ``../shared/specs/zendesk-support-openapi.yaml`` (next to the repository). Tests that
validate the sandbox's answers against it apply `SPEC_PATCHES` first; `SPEC_GAPS` says why.
"""

from __future__ import annotations

from typing import Any

# Where the published OpenAPI file (../shared/specs/zendesk-support-openapi.yaml) is wrong or
# silent, and what the sandbox (and its tests) do instead. Tests apply SPEC_PATCHES to the spec
# before validating responses against it.
SPEC_GAPS: dict[str, str] = {
    "webhooks": "The spec has no /api/v2/webhooks paths at all: webhook shapes follow "
    "https://developer.zendesk.com/api-reference/webhooks/webhooks-api/webhooks/ and tests check "
    "them against a schema written from those docs.",
    "tickets_requested": "GET /api/v2/users/{user_id}/tickets/requested is missing; answered "
    "like List Tickets and checked against TicketsResponse.",
    "idempotency": "The Idempotency-Key header, the x-idempotency-lookup answer header and the "
    "400 IdempotentRequestError are not in the spec (Support API introduction, Idempotency).",
    "nullable": "Many fields Zendesk returns as null are not marked nullable (ticket assignee_id, "
    "group_id, priority, type …, user email / last_login_at, attachment width / height, trigger "
    "description, cursor-pagination meta / links on the last page): SPEC_PATCHES marks them "
    "nullable.",
    "audit_event_values": "AuditObject.events[].value allows only string or integer, but tag "
    "events carry arrays and cleared fields null; events also carry previous_value and via.",
    "condition_values": "TriggerConditionObject.value has no null, which 'changed' conditions use.",
    "action_values": "ActionObject.value (automations, macros) is typed string, but "
    "notification_webhook takes [webhook_id, body]; TriggerActionObject allows arrays.",
    "errors": "Error bodies are not in the spec: {error, description[, details]} for Support "
    "endpoints (RecordInvalid 422, RecordNotFound 404, UpdateConflict 409, 401 'Couldn't "
    "authenticate you'); the newer webhook / trigger-category endpoints use {errors: [...]}.",
    "trigger_category_update": "The spec updates trigger categories with PATCH only; the sandbox "
    "takes PUT as well.",
    "rate_limits": "Rate-limit headers and the Update Ticket limits (100/min per account, 30 per "
    "ticket per user per 10 min) are documented in prose only.",
}

SPEC_PATCHES: tuple[tuple[str, dict[str, Any]], ...] = tuple(
    [
        (f"TicketObject/properties/{name}", {"nullable": True})
        for name in (
            "external_id",
            "type",
            "priority",
            "recipient",
            "assignee_id",
            "organization_id",
            "group_id",
            "forum_topic_id",
            "problem_id",
            "ticket_form_id",
            "brand_id",
            "satisfaction_rating",
            "due_at",
        )
    ]
    + [
        (f"UserForAdmin/properties/{name}", {"nullable": True})
        for name in ("email", "last_login_at", "default_group_id", "locale_id")
    ]
    + [
        (f"AttachmentBaseObject/properties/{name}", {"nullable": True})
        for name in ("width", "height")
    ]
    + [
        ("TriggerObject/properties/description", {"nullable": True}),
        ("Pagination/properties/meta/properties/after_cursor", {"nullable": True}),
        ("Pagination/properties/meta/properties/before_cursor", {"nullable": True}),
        ("Pagination/properties/links/properties/next", {"nullable": True}),
        ("Pagination/properties/links/properties/prev", {"nullable": True}),
        ("AuditObject/properties/events/items/properties/value", {"oneOf": None}),
        ("TriggerConditionObject/properties/value", {"nullable": True}),
    ]
)
