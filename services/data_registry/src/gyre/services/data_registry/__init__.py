"""Gyre data_registry service."""
