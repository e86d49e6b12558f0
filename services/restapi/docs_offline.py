"""/docs from local files: Swagger UI's assets come from the swagger-ui-bundle package,
so the page renders on a workshop network with no internet at all."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from services.restapi.openapi_doc import as_openapi_30

ASSETS = "/docs/assets"
SPEC_30 = "/docs/openapi-3.0.json"

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - Swagger UI</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-ui-standalone-preset.js"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: "{spec}",
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "BaseLayout",
  deepLinking: true
}});
</script>
</body>
</html>
"""


def swagger_assets_dir() -> Path:
    import swagger_ui_bundle

    return Path(str(swagger_ui_bundle.swagger_ui_path))


def install(app: FastAPI) -> None:
    """Add /docs, its assets and the 3.0 schema copy (all left out of the schema itself)."""
    app.mount(ASSETS, StaticFiles(directory=swagger_assets_dir()), name="swagger-assets")
    page = PAGE.format(title=app.title, assets=ASSETS, spec=SPEC_30)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get(SPEC_30, include_in_schema=False)
    async def openapi_30() -> JSONResponse:
        return JSONResponse(as_openapi_30(app.openapi()))
