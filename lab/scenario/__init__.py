"""The scenario engine: load and validate scenario files, run them, roll back, report."""
