"""UDP proxies (``"protocol": "udp"``) and their per-datagram toxics.

`toxic_registration` registers the UDP toxic types when imported (sans-I/O) and `proxy`
registers the ``udp`` proxy class; `core.plugins` names both. Nothing is imported here,
so the toxic types can be loaded without the proxy.
"""
