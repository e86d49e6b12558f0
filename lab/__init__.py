"""The wirelab orchestrator: CLI, stack backends, scenario engine, assertions and reports."""
