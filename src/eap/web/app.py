"""The FastAPI application: ``create_app(db_url)`` wires the store, the API and the pages.

One request is one database transaction (:func:`transaction`): it commits when the
handler returns and rolls back on any exception, so a request that fails half-way
leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from eap import __version__
from eap.errors import (
    AccessDeniedError,
    AuthError,
    ConflictError,
    EditCheckError,
    NotFoundError,
    StoreError,
)
from eap.store.db import make_engine, make_sessionmaker
from eap.store.schemas import ID_MAX
from eap.web.auth import CsrfFailed, Login, LoginRequired, request_token, resolve

HERE = FilePath(__file__).parent

# Every id in a path is a row id of a 32-bit integer column: a number outside
# 1 .. 2^31-1 is refused (422) before the database sees it, which would otherwise
# fail with an overflow (a 500) on SQLite and PostgreSQL alike.
PathId = Annotated[int, Path(ge=1, le=ID_MAX)]


@dataclass
class Settings:
    """What an instance needs beyond the database."""

    secure_cookies: bool = True
    today: Callable[[], dt.date] = dt.date.today
    last_parent_enrollment: dt.date | None = None


def sessions(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.sessions
    return factory


def settings(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


@contextmanager
def transaction(request: Request) -> Iterator[Session]:
    """One transaction for the request: commit on success, roll back on any error."""
    db = sessions(request)()
    try:
        with db.begin():
            yield db
    finally:
        db.close()


def current_login(request: Request) -> Login:
    """The request's login (LoginRequired without a valid session cookie)."""
    cached: Login | None = getattr(request.state, "login", None)
    if cached is not None:
        return cached
    db = sessions(request)()
    try:
        login = resolve(db, request_token(request))
    finally:
        db.close()
    request.state.login = login
    return login


def _field_errors(exc: RequestValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ()) if x not in ("body", "values", "query", "path")]
        out[".".join(loc) or "body"] = str(err.get("msg", "invalid"))
    return out


def _install_handlers(app: FastAPI) -> None:
    def is_api(request: Request) -> bool:
        return request.url.path.startswith("/api")

    def error(request: Request, status: int, body: dict[str, Any]) -> Response:
        """JSON for the API; a page with the message for the browser."""
        if is_api(request):
            return JSONResponse(body, status_code=status)
        login = getattr(request.state, "login", None)
        titles = {403: "Not allowed", 404: "Not found", 409: "Changed by someone else"}
        response: Response = request.app.state.templates.TemplateResponse(
            request,
            "error.html",
            {
                "login": login,
                "csrf": login.csrf if login else "",
                "role_label": login.actor.role.replace("_", " ") if login else "",
                "title": titles.get(status, "Not possible"),
                "message": body["detail"],
                "back": "/patients",
            },
            status_code=status,
        )
        return response

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if is_api(request):
            return JSONResponse({"detail": "login required"}, status_code=401)
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> Response:
        return error(request, 403, {"detail": "missing or wrong CSRF token"})

    @app.exception_handler(AuthError)
    async def _auth(request: Request, exc: AuthError) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=401)

    @app.exception_handler(NotFoundError)
    async def _nf(request: Request, exc: NotFoundError) -> Response:
        return error(request, 404, {"detail": exc.problem})

    @app.exception_handler(AccessDeniedError)
    async def _ad(request: Request, exc: AccessDeniedError) -> Response:
        return error(request, 403, {"detail": str(exc)})

    @app.exception_handler(ConflictError)
    async def _cf(request: Request, exc: ConflictError) -> Response:
        return JSONResponse(
            {"detail": str(exc), "current": exc.current},
            status_code=409,
        )

    @app.exception_handler(EditCheckError)
    async def _ec(request: Request, exc: EditCheckError) -> Response:
        return JSONResponse({"detail": "edit checks failed", "errors": exc.errors}, 422)

    @app.exception_handler(RequestValidationError)
    async def _rv(request: Request, exc: RequestValidationError) -> Response:
        return JSONResponse(
            {"detail": "invalid input", "errors": _field_errors(exc)}, status_code=422
        )

    @app.exception_handler(StoreError)
    async def _se(request: Request, exc: StoreError) -> Response:
        return error(request, 400, {"detail": str(exc)})


def create_app(
    db_url: str,
    *,
    secure_cookies: bool = True,
    today: Callable[[], dt.date] | None = None,
    last_parent_enrollment: dt.date | None = None,
) -> FastAPI:
    """The eap web application over the database at ``db_url`` (schema from ``eap db init``)."""
    from eap.web import api, pages

    app = FastAPI(
        title="eap study operations",
        version=__version__,
        description=(
            "MM-024 extended-access program: register rolled-over patients, record dosing, "
            "adverse events, follow-up visits, deaths and discontinuations, with an audit "
            "trail and site-scoped access. Log in with POST /api/session; send the returned "
            "csrf_token in the X-CSRF-Token header on every state-changing call."
        ),
    )
    engine = make_engine(db_url)
    app.state.engine = engine
    app.state.sessions = make_sessionmaker(engine)
    app.state.settings = Settings(
        secure_cookies=secure_cookies,
        today=today or dt.date.today,
        last_parent_enrollment=last_parent_enrollment,
    )
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    _install_handlers(app)
    app.include_router(api.router)
    app.include_router(pages.router)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        # Pages hold patient data: never cache them, never frame them.
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # Scripts only from this server (htmx is vendored); inline styles are the pages' own.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        )
        return response

    return app
