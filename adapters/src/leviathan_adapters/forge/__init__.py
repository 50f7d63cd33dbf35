"""Forges: where branches are pushed and pull requests live."""
