"""The four wirelab services. Each runs as `python -m services.<name>`."""
