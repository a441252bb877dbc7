"""Root pytest configuration: the project's fixtures live in `mynaflow.testing`."""

pytest_plugins = ["mynaflow.testing.plugin"]
