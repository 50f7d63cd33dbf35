"""Pure projections of the event log into the state the scheduler reads."""
