"""Revocations beyond the database: the published feed, this instance's mirror, announcements."""
