"""Gyre validation service."""
