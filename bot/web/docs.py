"""The interactive API docs at ``GET /docs``: Swagger UI from the ``swagger-ui-bundle-v2`` package's own copy.

FastAPI's built-in page loads Swagger UI from a CDN and starts it with an inline script, which the CSP
(``default-src 'self'``) and the rule against third-party hosts both forbid. Here the two files it needs
come from the package, and it starts from ``web/static/api-docs.js``, so nothing leaves this origin.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

from bot.web.deps import templates

SWAGGER_UI = Path(swagger_ui_path)
ASSETS = {"swagger-ui-bundle.js", "swagger-ui.css"}  # all the page loads; nothing else there is served

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def api_docs(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "api_docs.html", {"title": request.app.title})


@router.get("/docs/{name}")
def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(404, f"no such page or API route: /docs/{name}")
    return FileResponse(SWAGGER_UI / name, headers={"cache-control": "public, max-age=86400"})
