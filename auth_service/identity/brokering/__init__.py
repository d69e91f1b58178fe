"""Signing in with another provider (identity brokering): README "Sign in with another provider"."""
