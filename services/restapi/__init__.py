"""restapi: a FastAPI service built for practising API clients (issue 4).

Run it with ``python -m services.restapi``; the app factory is
``services.restapi.app_factory.create_app``.
"""
