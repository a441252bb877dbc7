"""notice-intake adapters: SQL repositories on the unit of work's connection, and metrics."""
