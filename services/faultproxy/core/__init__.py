"""What every protocol shares: proxies and their registry, toxic types, the manager,
events, metrics, addresses, the allowlist, and the plugin list (`plugins.PLUGINS`).

Nothing here imports ``tcp``, ``udp``, ``http`` or ``api``; they import the core.
"""
