"""The watcher's rules: policies, ladders, catch-up, deadline transitions. No I/O in here."""
