"""Gyre training service."""
