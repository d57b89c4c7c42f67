"""Gyre monitoring service."""
