"""Helpers for the tools around the services (test suite, benchmark, fault suite, run-cluster).

Not part of the services: the image and the installed package leave this directory out.
"""
