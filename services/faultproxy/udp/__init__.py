"""UDP proxies (``"protocol": "udp"``) and their per-datagram toxics.

Importing the package registers the ``udp`` proxy class and the UDP toxic types with the
core (see `services.faultproxy.plugins`), so one import is enough.
"""

from services.faultproxy.udp.proxy import UdpProxy
from services.faultproxy.udp.toxic_registration import register_udp_toxics

UDP_TOXIC_TYPES = register_udp_toxics()

__all__ = ["UDP_TOXIC_TYPES", "UdpProxy"]
