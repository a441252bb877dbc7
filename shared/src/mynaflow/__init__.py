"""mynaflow shared package: contracts, domain primitives, storage, messaging and the operator CLI."""
