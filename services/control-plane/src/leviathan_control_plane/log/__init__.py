"""The event log: strict intake, the hash chain and the append-only store."""
