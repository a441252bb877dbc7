"""Root pytest configuration: the project's fixtures for the real servers.

Each module's public names are fixtures; they fail loudly (never skip) when a server cannot be
reached.
"""

pytest_plugins = ["mynaflow_testing.postgres", "mynaflow_testing.kafka"]
