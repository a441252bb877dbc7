"""mynaflow shared package.

Contracts, domain primitives, storage, messaging and the operator CLI.
"""
