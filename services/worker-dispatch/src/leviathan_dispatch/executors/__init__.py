"""Executors start worker runs: Kubernetes Jobs or local processes."""
