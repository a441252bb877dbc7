"""notice-intake's rules: pure functions, no FastStream, asyncpg or aiokafka."""
