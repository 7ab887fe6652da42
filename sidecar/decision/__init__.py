"""May the event go, and where? Envelope validation, consent signals, the per-destination
consent decision and rollout."""
