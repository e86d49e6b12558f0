"""faultproxy: a Toxiproxy-compatible fault proxy for TCP, UDP and HTTP.

Read it by folder: `core/` (what every protocol shares), `api/` (the HTTP API), `tcp/`,
`udp/` and `http/` (one per protocol); `service.py` wires them up for `__main__`.
See EXTENDING.md for the interfaces a protocol plugs into.
"""
