"""notice-intake handlers: plain `async def handle(event, deps)` and the unit of work."""
