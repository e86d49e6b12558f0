"""Workshop exercises: find them, run a student's program against the lab, and judge it
from the services' own evidence (request logs, proxy counters), not from printed output."""
