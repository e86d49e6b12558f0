"""faultproxy: a Toxiproxy-compatible TCP fault proxy with room for UDP and HTTP faults.

See EXTENDING.md for the interfaces the UDP and HTTP layers plug into.
"""
