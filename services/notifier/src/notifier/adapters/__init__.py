"""notifier adapters: repositories (asyncpg SQL) and publishers (the outbox)."""
