"""The read side: every answer comes from a projection or an indexed range of the log."""
