"""The fault suite (`make chaos`): a 2 + 2 cluster on PostgreSQL and Redis, mixed traffic from at
most 50 clients, injected faults, and invariants checked against a ledger and the database."""
