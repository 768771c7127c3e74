"""The `agenttasks` command, also usable as `kubectl agenttasks`."""
