"""The first-party event sidecar: verify, validate, decide, queue, deliver."""
