"""card-registry entry points: thin subscribers and HTTP read endpoints."""
