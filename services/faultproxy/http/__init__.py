"""HTTP-level toxics for TCP proxies that carry HTTP/1.1 (Toxiproxy's open issue 50).

`toxic_specs` registers the toxic types (``http_status``, ``http_delay``, ``http_reset``,
``http_malformed``, ``http_drip``) when imported (sans-I/O; `core.plugins` names it), and
`layer.create_http_layer` is what the TCP side's `tcp.http_hook` calls once per connection.
Nothing is imported here, so the toxic types can be loaded without the layer.
"""
