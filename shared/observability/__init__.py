"""Observability for both services: logs with request ids, Prometheus metrics, health routes."""
