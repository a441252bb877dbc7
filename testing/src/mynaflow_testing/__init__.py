"""Dev-only testing package: fixtures for the real servers, service harnesses, fakes."""
