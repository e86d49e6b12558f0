"""HTTP-level toxics for TCP proxies that carry HTTP/1.1 (Toxiproxy's open issue 50).

Importing the package registers the toxic types (``http_status``, ``http_delay``,
``http_reset``, ``http_malformed``, ``http_drip``) and provides ``create_http_layer``, which
the core's `http_hook` calls once per connection.
"""

from services.faultproxy.http_faults.layer import HttpFaultLayer, create_http_layer
from services.faultproxy.http_faults.toxic_specs import register_http_toxics

HTTP_TOXIC_TYPES = register_http_toxics()

__all__ = ["HTTP_TOXIC_TYPES", "HttpFaultLayer", "create_http_layer"]
