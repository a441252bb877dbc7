"""mynaflow notifier service."""
