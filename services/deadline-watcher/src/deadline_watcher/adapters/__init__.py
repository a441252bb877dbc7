"""deadline-watcher adapters."""
