"""Gyre model_registry service."""
