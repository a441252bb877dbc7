"""deadline-watcher service_layer."""
