"""TCP proxies (``"protocol": "tcp"``, the default) and Toxiproxy's stream toxics.

`proxy` (listener) -> `connection` (two directions) -> `splice_pump` (zero-copy) or a chain
of `stream_toxic` stages (`toxics`, whose maths is in `toxic_maths`). `http_hook` is the
seam through which the ``http`` package joins a connection's chains.

Nothing is imported here, so importing `toxics` alone (to learn the toxic types) loads no
proxy or socket code; see `core.plugins`.
"""
