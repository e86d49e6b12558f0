"""The Toxiproxy-compatible HTTP API: `server` (HTTP/1.1 over asyncio, SSE), `routes`
(request -> response, no sockets) and `input_parsing` (validating request bodies)."""
