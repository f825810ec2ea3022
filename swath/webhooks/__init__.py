"""Webhooks (Standard Webhooks, delivered like Svix).

`signing` (secrets, signatures, headers), `events` (event types, message ids, bodies),
`destinations` (when two URLs are one destination), `transport` (the SSRF-pinned HTTP client),
`failures` (the fixed wording of failed attempts), `contracts` (the delivery workflow's
dataclasses), `dispatch` (the delivery policy and starting a delivery) and `metrics`. Queries
live in `swath.db.webhooks`, the durable delivery in `workflows.webhook_delivery`, the activities
in `activities.notify`.
"""
