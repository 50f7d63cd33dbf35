"""GitHub webhooks that move a select cycle forward: pure rules and the tick sender."""
