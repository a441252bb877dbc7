"""card-registry adapters: repositories (asyncpg SQL) and publishers (the outbox)."""
