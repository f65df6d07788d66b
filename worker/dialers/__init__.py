"""Dialer backends: place one call, report its outcome (SPEC §6)."""
