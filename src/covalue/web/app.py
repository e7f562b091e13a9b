"""The FastAPI application: ``create_app(workspace)`` wires the store (migrations applied), the site
state, the views (pages and JSON API, see ``covalue.web.views``) behind one CSRF dependency, static
files (plotly.js from the installed plotly package, never a CDN), the outer guard (body limits before
anything is read, security headers, HEAD; ``covalue.web.guard``), turns for signed-in pages
(``covalue.web.turns``), and how refusals and errors are answered (a page for browsers, JSON for the
API and other clients; never a server path or trace)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from covalue.canvas.collaboration_service import Refused as CanvasRefused
from covalue.store import Store
from covalue.web import guard, rights, security, uploads
from covalue.web.common import LoginRequired, get_ctx, render
from covalue.web.csrf import CsrfDep
from covalue.web.site import Busy, Limits, Site
from covalue.web.turns import Turns
from covalue.web.views import ROUTERS
from covalue.web.views import data as data_views

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
#: the rules the pages share with the report, kept with the report's own sheet
COMMON_CSS = Path(__file__).parent.parent / "report" / "templates" / "common.css"
CSP = guard.CSP
HEADINGS = {
    400: "That did not work",
    401: "Please sign in",
    403: "Not for your account",
    404: "Not found",
    405: "Not here",
    413: "Too large",
    429: "Please wait",
    500: "Something went wrong",
    503: "Busy right now",
}
#: seconds an idle keep-alive connection stays open: longer than clients keep theirs (httpx 5 s), so a
#: client never sends a request on a connection the server is closing at the same instant (uvicorn's
#: 5 s default met httpx's 5 s: "Server disconnected without sending a response", about 1 in 40
#: requests made after 5 s idle)
KEEP_ALIVE_SECONDS = 75
#: what a request may not carry whatever the route: values the store cannot hold are the client's
#: mistake (400), not a server error
BAD_VALUE = "the request holds a value that cannot be stored (a NUL character, or a number out of range)"


def plotly_path() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def create_app(
    workspace: str | Path,
    *,
    database_url: str | None = None,
    limits: Limits | None = None,
    trusted_proxies: list[str] | None = None,
) -> FastAPI:
    """The web app on ``workspace``; accounts live in ``database_url`` (default: ``COVALUE_DATABASE_URL``
    or ``store.sqlite`` in the workspace). ``trusted_proxies`` overrides ``[web] trusted_proxies``."""
    with private_files():
        store = Store.open(workspace, url=database_url)
        site = Site(Path(workspace), store, limits)
    keep_private(Path(workspace))
    if trusted_proxies is not None:
        site.ws.settings.web.trusted_proxies = list(trusted_proxies)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        pool = getattr(_app.state, "hash_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
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

    @app.api_route("/static/common.css", methods=["GET", "HEAD"], include_in_schema=False)
    def common_css() -> Response:
        return FileResponse(COMMON_CSS, media_type="text/css")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # routes that stream an upload to disk get the upload limit, and only for a signed session
    def limit_for(scope: dict) -> int:
        if scope.get("path") in data_views.STREAMED_PATHS:
            cookie = dict(scope.get("headers") or []).get(b"cookie", b"").decode("latin-1")
            if cookie and security.signed_session_id(site, cookie):
                # with room for the form's other fields: the receiver counts the file itself and
                # says its own limit in the page
                return site.limits.max_upload_bytes + uploads.MAX_FIELD_BYTES + 1024 * 1024
        return site.ws.settings.web.max_request_bytes

    # signed-in pages take turns (waiting in the event loop), so the sign-in page and static files
    # answer at once however many pages are being drawn; the guard is outside, so a refusal never waits
    app.add_middleware(Turns, turns=site.limits.page_turns, long_paths=data_views.STREAMED_PATHS)
    app.add_middleware(guard.Guard, limit_for=limit_for)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _exc: LoginRequired) -> Response:
        if request.url.path.startswith("/api"):
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(request, exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(Busy)
    async def busy(request: Request, exc: Busy) -> Response:
        # a bounded kind of slow request is full: said at once, so no server thread waits for a slot
        return _error(request, 503, exc.message, {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(CanvasRefused)
    async def canvas_refused(request: Request, exc: CanvasRefused) -> Response:
        return _error(request, exc.status, exc.message)

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
        if guard.wants_html(request.scope):
            return _error(request, 400, detail[:1].upper() + detail[1:] + ".")
        # the offending input is not echoed back: it may be large or hold what a page must not show
        shown = [{k: v for k, v in e.items() if k not in ("input", "ctx", "url")} for e in errors]
        return JSONResponse({"detail": detail, "errors": jsonable_encoder(shown)}, status_code=400)

    async def bad_value(request: Request, exc: Exception) -> Response:
        if not _bad_value(exc):
            raise exc  # a real server error: answered by the handler below
        return _error(request, 400, BAD_VALUE[:1].upper() + BAD_VALUE[1:] + ".")

    # a value the store cannot hold is answered inside the app (no error logged, the connection kept)
    for kind in (OverflowError, ValueError, SQLAlchemyError):
        app.add_exception_handler(kind, bad_value)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        # answered by Starlette's outermost layer, outside the guard: the headers are set here
        if _bad_value(exc):
            resp = _error(request, 400, BAD_VALUE[:1].upper() + BAD_VALUE[1:] + ".")
        else:
            log.error("web: %s %s failed", request.method, request.url.path, exc_info=exc)
            resp = _error(request, 500, "The server could not answer this request; it has been logged.")
        for k, v in guard.with_security_headers([], request.url.path):
            resp.headers.setdefault(k.decode(), v.decode())
        return resp

    return app


#: files of a workspace that hold people's data or accounts: readable by their owner only
PRIVATE_FILES = (
    "covalue.duckdb",
    "covalue.duckdb.wal",
    "store.sqlite",
    "store.sqlite-wal",
    "store.sqlite-shm",
)


@contextmanager
def private_files() -> Iterator[None]:
    """Files and folders made inside the block are the owner's only (umask 077)."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def keep_private(workspace: Path) -> None:
    """Make the workspace's data files, and uploads, readable by their owner only (0600, folders
    0700), whoever made them before."""
    for name in PRIVATE_FILES:
        with contextlib.suppress(OSError):
            (workspace / name).chmod(0o600)
    uploads_dir = workspace / "uploads"
    if uploads_dir.is_dir():
        uploads_dir.chmod(0o700)
        for p in uploads_dir.rglob("*"):
            with contextlib.suppress(OSError):
                p.chmod(0o700 if p.is_dir() else 0o600)


def _bad_value(exc: BaseException) -> bool:
    """An error from the store about a value it cannot hold: NUL in text, an integer past 64 bits."""
    from sqlalchemy.exc import DataError, StatementError

    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OverflowError | DataError):
            return True
        if isinstance(e, ValueError | StatementError) and ("NUL" in str(e) or "0x00" in str(e)):
            return True
        e = e.__cause__ or e.__context__
    return False


def _error(request: Request, code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A refusal or an error: JSON under ``/api`` and for clients that do not ask for HTML, else a
    page in the app's frame."""
    if not guard.wants_html(request.scope):
        return JSONResponse({"detail": message}, status_code=code, headers=headers)
    try:
        ctx = get_ctx(request)
    except Exception:  # the store itself failing must still give a page
        ctx = None
    if ctx is None:
        return HTMLResponse(
            f"<!doctype html><title>{HEADINGS.get(code, 'Error')}</title><h1>{HEADINGS.get(code, 'Error')}</h1>",
            status_code=code,
            headers=headers,
        )
    resp = render(
        ctx,
        "error.html.j2",
        code,
        title=HEADINGS.get(code, "Error"),
        heading=HEADINGS.get(code, "Something went wrong"),
        message=message,
        back="/",
    )
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp
