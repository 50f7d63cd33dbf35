"""Executors start and inspect worker runs (Kubernetes Jobs or local processes)."""
