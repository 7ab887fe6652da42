"""sgtm-companion's compiler side: the tracking plan, and everything derived from it."""
