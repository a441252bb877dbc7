"""mynaflow deadline-watcher service."""
