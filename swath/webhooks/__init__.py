"""Webhooks (Standard Webhooks, delivered like Svix).

`signing` (secrets, signatures, headers), `events` (event types, message ids, bodies),
`transport` (the SSRF-pinned HTTP client), `failures` (the fixed wording of failed attempts),
`dispatch` (the delivery policy and starting a delivery), `outbox` (recording a run's lifecycle
event with its messages) and `metrics`. The delivery workflow's dataclasses are
`swath.domain.webhook_contracts`, when two URLs are one destination
`swath.domain.webhook_destinations`. Queries
live in `swath.db.webhooks`, the durable delivery in `workflows.webhook_delivery`, the activities
in `activities.notify`.
"""
