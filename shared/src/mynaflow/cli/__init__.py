"""The `mynaflow` operator CLI. See `mynaflow.cli.main` for how to add a command group."""
