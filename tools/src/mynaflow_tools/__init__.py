"""mynaflow operator tools: the CLI, the importer and the load test (an application)."""
