"""Gyre Python SDK."""
