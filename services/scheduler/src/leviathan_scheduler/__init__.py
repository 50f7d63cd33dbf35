"""Leviathan package."""
