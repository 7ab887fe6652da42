"""The `sgtm` application: the command line and the local demo, on top of every other package."""
