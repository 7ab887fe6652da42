"""One module per group of `sgtm` sub-commands; each defines ``register(subparsers)``."""
