"""Schema package shared by both services: tables, wire schemas, scopes, errors and token checks."""
