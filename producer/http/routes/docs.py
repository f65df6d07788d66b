"""The API's documentation pages, ``/docs`` (Swagger UI) and ``/redoc``, served with
their scripts and styles from this origin.

FastAPI's own pages load Swagger UI and ReDoc from a CDN without an integrity check;
these load the copies the ``fastapi-offline`` package ships (Swagger UI 5, which reads
OpenAPI 3.1, and ReDoc), by exact file name, under a Content-Security-Policy that
allows nothing but this origin and the one inline script of the Swagger page (by its
hash).
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse

from domain.errors import NotFound

#: Where the package keeps the files (package data, not Python).
ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
#: The URL prefix of those files.
ASSETS_URL = "/docs/assets"

_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _csp(html: str, *, workers: bool = False) -> str:
    """Same origin only; inline scripts allowed by hash; inline styles allowed (both UIs
    set style attributes); ReDoc runs a web worker from a blob."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _INLINE_SCRIPT.findall(html)
    )
    policy = [
        "default-src 'none'",
        f"script-src 'self' {hashes}".rstrip(),
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
    if workers:
        policy.append("worker-src blob:")
    return "; ".join(policy)


def _page(html: str, *, workers: bool = False) -> HTMLResponse:
    return HTMLResponse(html, headers={"Content-Security-Policy": _csp(html, workers=workers)})


def _text(page: HTMLResponse) -> str:
    return bytes(page.body).decode()


def docs_router(app: FastAPI) -> APIRouter:
    """``/docs``, ``/redoc``, Swagger UI's OAuth2 redirect page, and their files. The app
    must be built with ``docs_url=None, redoc_url=None`` (FastAPI's CDN pages)."""
    router = APIRouter(include_in_schema=False)
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    swagger = _text(
        get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=redirect_url,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        )
    )
    redoc = _text(
        get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
    )
    redirect = _text(get_swagger_ui_oauth2_redirect_html())

    @router.get("/docs")
    def swagger_ui() -> HTMLResponse:
        """Swagger UI over the OpenAPI document."""
        return _page(swagger)

    @router.get("/redoc")
    def redoc_ui() -> HTMLResponse:
        """ReDoc over the OpenAPI document."""
        return _page(redoc, workers=True)

    @router.get(redirect_url)
    def oauth2_redirect() -> HTMLResponse:
        """Swagger UI's OAuth2 redirect page (part of the UI; this API has no OAuth2)."""
        return _page(redirect)

    @router.get(f"{ASSETS_URL}/{{name}}")
    def asset(name: str) -> FileResponse:
        """One of the documentation pages' files."""
        media_type = _TYPES.get(name)
        if media_type is None:
            raise NotFound(f"no such file of the documentation: {name}")
        return FileResponse(
            ASSETS_DIR / name, media_type=media_type, headers={"Cache-Control": "max-age=86400"}
        )

    return router
