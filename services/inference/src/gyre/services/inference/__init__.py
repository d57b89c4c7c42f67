"""Gyre inference service."""
