"""Small pieces every service shares: binding with a clear error, logging, the entry point,
the lab CA; and running a service as a child process (tests, bench)."""
