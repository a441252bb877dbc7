"""notifier entry points: thin subscribers and HTTP read endpoints."""
