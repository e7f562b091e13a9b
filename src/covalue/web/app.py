"""The FastAPI application: ``create_app(workspace)`` wires the store (migrations applied), the site
state, the views (pages and JSON API, see ``covalue.web.views``) behind one CSRF dependency, static
files (plotly.js from the installed plotly package, never a CDN), the security headers, and how
refusals are answered (JSON under ``/api``, a page otherwise)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from covalue.canvas.collaboration_service import Refused as CanvasRefused
from covalue.store import Store
from covalue.web import rights
from covalue.web.common import LoginRequired, get_ctx, render
from covalue.web.csrf import CsrfDep
from covalue.web.site import Limits, Site
from covalue.web.views import ROUTERS

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
HEADINGS = {
    400: "That did not work",
    401: "Please sign in",
    403: "Not for your account",
    404: "Not found",
    413: "Too large",
    429: "Please wait",
}


def plotly_path() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def create_app(
    workspace: str | Path,
    *,
    database_url: str | None = None,
    limits: Limits | None = None,
) -> FastAPI:
    """The web app on ``workspace``; accounts live in ``database_url`` (default: ``COVALUE_DATABASE_URL``
    or ``store.sqlite`` in the workspace)."""
    store = Store.open(workspace, url=database_url)
    site = Site(Path(workspace), store, limits)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        site.close()

    app = FastAPI(
        title="covalue",
        summary="The value journey and health of your communities",
        version="1",
        docs_url=None,  # the interactive docs pages load scripts from a CDN; the schema is enough
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
        dependencies=[CsrfDep],  # every route, so no state-changing handler can forget it
    )
    app.state.site = site
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(rights.router)  # forget a person, a person's own data, the daily prune

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> Response:
        return FileResponse(
            plotly_path(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"}
        )

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.middleware("http")
    async def headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        resp = await call_next(request)
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.startswith("/static"):
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _exc: LoginRequired) -> Response:
        if request.url.path.startswith("/api"):
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api") or exc.status_code in (405,):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        ctx = get_ctx(request)
        return render(
            ctx,
            "error.html.j2",
            exc.status_code,
            title=HEADINGS.get(exc.status_code, "Error"),
            heading=HEADINGS.get(exc.status_code, "Something went wrong"),
            message=str(exc.detail),
            back="/",
        )

    @app.exception_handler(CanvasRefused)
    async def canvas_refused(request: Request, exc: CanvasRefused) -> Response:
        return await http_error(request, HTTPException(exc.status, exc.message))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()[:5]
        # a rule of the posted model (a date, a title, a known kind) is said in its own words
        said = [
            str(e.get("msg", "")).removeprefix("Value error, ")
            for e in errors
            if e.get("type") == "value_error"
        ]
        detail = "the request is not well formed" + (f": {said[0]}" if said else "")
        return JSONResponse({"detail": detail, "errors": jsonable_encoder(errors)}, status_code=400)

    return app
