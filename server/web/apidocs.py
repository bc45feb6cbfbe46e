"""The API reference's viewer, served from the app's own static files: ``/schema`` must work on a
laptop on a train and in a network that blocks public CDNs, so no script, style or icon of it
comes from another host (Litestar's plugins default to jsDelivr and unpkg)."""

from __future__ import annotations

from litestar.openapi.plugins import OpenAPIRenderPlugin, SwaggerRenderPlugin

__all__ = ["ASSETS", "openapi_render_plugins"]

ASSETS = "/manager/static/apidocs"
_FAVICON = "<link rel='icon' type='image/svg+xml' href='/manager/static/logo.svg'>"


def openapi_render_plugins() -> list[OpenAPIRenderPlugin]:
    return [
        SwaggerRenderPlugin(
            version="5.36.0",
            js_url=f"{ASSETS}/swagger-ui-bundle.js",
            css_url=f"{ASSETS}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
            favicon=_FAVICON,
            path="/swagger",
        )
    ]
