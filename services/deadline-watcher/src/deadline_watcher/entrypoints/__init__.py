"""deadline-watcher entrypoints."""
