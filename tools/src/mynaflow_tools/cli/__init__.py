"""The `mynaflow` operator CLI. See `mynaflow_tools.cli.main` for how to add a command group."""
