"""The FastAPI application: ``create_app(db_url)`` wires the store, the API and the pages.

One request is one database transaction (:func:`transaction`): it commits when the
handler returns and rolls back on any exception, so a request that fails half-way
leaves nothing behind. GET requests only read (:func:`eap.store.db.read_session`), so on
SQLite they never wait in the writers' queue.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
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
from eap.store.audit import record_account_event
from eap.store.db import make_engine, make_sessionmaker, read_session
from eap.store.models import User
from eap.store.schemas import ID_MAX
from eap.store.users import UNKNOWN_ACTOR, authenticate
from eap.web.auth import (
    ADDRESS_FAILURES,
    AddressLimit,
    CsrfFailed,
    Login,
    LoginRequired,
    PasswordChangeRequired,
    TooManyLogins,
    open_session,
    request_token,
    resolve,
)

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
    public_docs: bool = False


# Password checks (argon2: ~0.5 s of CPU, several threads) that may run at once; more
# logins wait their turn without holding a worker thread, so a login flood cannot take
# the CPU and the thread pool from everyone else.
PASSWORD_CHECKS_AT_ONCE = max(1, (os.cpu_count() or 2) // 2)

# Requests that only read: their transaction takes no write lock.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def sessions(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.sessions
    return factory


def settings(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


@contextmanager
def transaction(request: Request) -> Iterator[Session]:
    """One transaction for the request: commit on success, roll back on any error.

    A GET only reads: its session is read-only (on SQLite: no ``BEGIN IMMEDIATE``)."""
    if request.method in READ_METHODS:
        with read_session(sessions(request)) as reader:
            yield reader
        return
    db = sessions(request)()
    try:
        with db.begin():
            yield db
    finally:
        db.close()


def current_login(request: Request, *, password_change: bool = False) -> Login:
    """The request's login (LoginRequired without a valid session cookie).

    A user whose password was reset gets PasswordChangeRequired everywhere but where
    ``password_change`` is true (changing the password, logging out, who am I)."""
    login: Login | None = getattr(request.state, "login", None)
    if login is None:
        with read_session(sessions(request)) as db:
            login = resolve(db, request_token(request))
        request.state.login = login
    if login.must_change_password and not password_change:
        raise PasswordChangeRequired
    return login


def client_address(request: Request) -> str:
    """The client's address as uvicorn gives it (behind a proxy, from X-Forwarded-For
    when uvicorn trusts that proxy: --forwarded-allow-ips)."""
    return request.client.host if request.client else "unknown"


def log_in(request: Request, username: str, password: str) -> tuple[str, str, dict[str, Any]]:
    """Check the password and open a session: (cookie token, CSRF token, who).

    A refused login counts against the client address, and the failure that reaches the
    address limit is recorded in the trail."""
    limit: AddressLimit = request.app.state.address_limit
    address = client_address(request)
    now = dt.datetime.now(dt.UTC)

    def start(db: Session, user: User) -> tuple[str, str, dict[str, Any]]:
        token, csrf = open_session(db, user)
        who = {
            "username": user.username,
            "role": user.role,
            "site_id": user.site_id,
            "must_change_password": user.must_change_password,
        }
        return token, csrf, who

    try:
        return authenticate(sessions(request), username, password, start, client=address)
    except AuthError:
        if limit.failed(address, now):
            with sessions(request).begin() as db:
                record_account_event(
                    db,
                    actor=UNKNOWN_ACTOR,
                    action="addr_limit",
                    table="users",
                    record_id=0,
                    detail=f"{limit.max_failures} failed logins from {address}: "
                    f"refused for up to {limit.window}",
                )
        raise


def _field_errors(exc: RequestValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ()) if x not in ("body", "values", "query", "path")]
        out[".".join(loc) or "body"] = str(err.get("msg", "invalid"))
    return out


async def log_in_turn(
    request: Request, username: str, password: str
) -> tuple[str, str, dict[str, Any]]:
    """:func:`log_in` on one of the login threads, once one is free (a waiting login
    holds no thread of the server's pool). An address over its limit is refused first
    (TooManyLogins), without waiting for a turn or checking anything."""
    limit: AddressLimit = request.app.state.address_limit
    limit.check(client_address(request), dt.datetime.now(dt.UTC))
    slots: ThreadPoolExecutor = request.app.state.login_slots
    return await asyncio.get_running_loop().run_in_executor(
        slots, functools.partial(log_in, request, username, password)
    )


def _install_handlers(app: FastAPI) -> None:
    def is_api(request: Request) -> bool:
        return request.url.path.startswith("/api") or request.url.path == "/openapi.json"

    def error(request: Request, status: int, body: dict[str, Any]) -> Response:
        """JSON for the API; a page with the message for the browser."""
        if is_api(request):
            return JSONResponse(body, status_code=status)
        login = getattr(request.state, "login", None)
        titles = {
            403: "Not allowed",
            404: "Not found",
            409: "Changed by someone else",
            429: "Too many failed logins",
        }
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

    @app.exception_handler(PasswordChangeRequired)
    async def _pw(request: Request, exc: PasswordChangeRequired) -> Response:
        if is_api(request):
            return JSONResponse(
                {"detail": "password change required: POST /api/password"}, status_code=403
            )
        return RedirectResponse("/password", status_code=303)

    @app.exception_handler(TooManyLogins)
    async def _tm(request: Request, exc: TooManyLogins) -> Response:
        headers = {"Retry-After": str(exc.retry_after)}
        if is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=429, headers=headers)
        return error(request, 429, {"detail": str(exc)})

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


def _docs_behind_login(app: FastAPI) -> None:
    """/openapi.json and /docs for logged-in users only."""

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(request: Request) -> JSONResponse:
        current_login(request)
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        current_login(request)
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - API")


def create_app(
    db_url: str,
    *,
    secure_cookies: bool = True,
    today: Callable[[], dt.date] | None = None,
    last_parent_enrollment: dt.date | None = None,
    public_docs: bool = False,
    login_failures_per_address: int | None = ADDRESS_FAILURES,
    password_checks_at_once: int = PASSWORD_CHECKS_AT_ONCE,
) -> FastAPI:
    """The eap web application over the database at ``db_url`` (schema from ``eap db init``).

    ``/docs`` and ``/openapi.json`` need a login unless ``public_docs``;
    ``login_failures_per_address`` None turns the client address limit off;
    ``password_checks_at_once`` logins are checked at once, the others wait their turn."""
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
        # The API's description is for logged-in users unless the server says otherwise.
        docs_url="/docs" if public_docs else None,
        openapi_url="/openapi.json" if public_docs else None,
        redoc_url=None,
    )
    engine = make_engine(db_url)
    app.state.engine = engine
    app.state.sessions = make_sessionmaker(engine)
    app.state.settings = Settings(
        secure_cookies=secure_cookies,
        today=today or dt.date.today,
        last_parent_enrollment=last_parent_enrollment,
        public_docs=public_docs,
    )
    app.state.address_limit = AddressLimit(login_failures_per_address)
    app.state.login_slots = ThreadPoolExecutor(
        max_workers=password_checks_at_once, thread_name_prefix="eap-login"
    )
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    _install_handlers(app)
    app.include_router(api.router)
    app.include_router(pages.router)
    if not public_docs:
        _docs_behind_login(app)

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
