"""Falcon resources, one module per area of the HTTP API."""
