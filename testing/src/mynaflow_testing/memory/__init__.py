"""In-memory repositories of each service, for handler unit tests on `FakeUnitOfWork`.

Each keeps the rules its SQL counterpart gets from the schema (a unique notice id, a ledger
primary key, SKIP LOCKED claims by due time), so a handler that passes on them behaves the same
on PostgreSQL.
"""
