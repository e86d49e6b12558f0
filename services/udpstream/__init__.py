"""udpstream: a paced UDP streamer with echo, and the client library that measures it.

- ``wire``: the datagram format; ``control``: JSON control requests and caps;
  ``pacing``: the rate pacer; ``stats``: the receive-side statistics library;
  ``engine``: the server's state machine. All five are sans-I/O.
- ``server``: the socket loop; ``client``: ``measure()`` and ``ping()`` (the stable
  API); ``health``: ``probe()`` for ``lab status``; ``transport``: their socket plumbing.

Run it with ``python -m services.udpstream --host H --port P``.
"""
