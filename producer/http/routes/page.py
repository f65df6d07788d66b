"""The Batch Dials page: static files in ``producer/web/``, served by the API.

``GET /`` answers ``index.html``; ``GET /assets/NAME`` answers one of the page's
other files, by exact name (nothing else on disk is reachable). There is no build
step: the files are plain HTML, CSS and ES modules. The page keeps the API key in
the browser's session storage and sends it as the ``api_key`` header; the strict
Content-Security-Policy lets it load and talk to nothing but this origin.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from domain.errors import NotFound

#: The page's files: producer/web/ (static assets, not Python).
WEB_DIR = Path(__file__).resolve().parents[2] / "web"

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}

#: No inline script or style, no other origin, not framable.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)

_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _assets() -> dict[str, Path]:
    return {
        p.name: p
        for p in sorted(WEB_DIR.iterdir())
        if p.is_file() and p.suffix in _TYPES and p.name != "index.html"
    }


def page_router() -> APIRouter:
    """The routes of the page (not part of the API, so not in the OpenAPI document)."""
    router = APIRouter(include_in_schema=False)
    assets = _assets()

    @router.get("/")
    def index() -> FileResponse:
        """The page itself."""
        return FileResponse(WEB_DIR / "index.html", media_type=_TYPES[".html"], headers=_HEADERS)

    @router.get("/assets/{name}")
    def asset(name: str) -> FileResponse:
        """One of the page's scripts or style sheets."""
        path = assets.get(name)
        if path is None:
            raise NotFound(f"no such file of the page: {name}")
        return FileResponse(path, media_type=_TYPES[path.suffix], headers=_HEADERS)

    return router
