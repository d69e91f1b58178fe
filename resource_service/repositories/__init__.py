"""Queries of the resource service: its own tables, and read-only user profiles."""
