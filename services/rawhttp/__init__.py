"""rawhttp: HTTP/1.1 written by hand on Python's socket, selectors and ssl modules.

Sans-I/O core: ``http11`` (request parsing), ``responses`` (formatting), ``routes`` (the App),
``static_files``, ``line_protocol`` (framing and replies). Socket loops: ``server_blocking``,
``server_threads``, ``server_selectors``, all driving the ``protocol.StreamProtocol`` shape.
"""
