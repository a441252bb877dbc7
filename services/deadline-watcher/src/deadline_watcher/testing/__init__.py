"""Test support for deadline-watcher: real replicas in-process, request and event helpers."""
