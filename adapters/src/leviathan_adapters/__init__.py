"""I/O adapters: forges, Redis slots, the control-plane client, backlog reads, runs."""
