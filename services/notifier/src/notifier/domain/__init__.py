"""notifier rules: pure functions and models, no FastStream, asyncpg or aiokafka."""
