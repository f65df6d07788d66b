"""Typed settings, logging, and the wiring of Redis and the dramatiq broker."""
