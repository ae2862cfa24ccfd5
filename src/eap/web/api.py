"""The JSON API under /api (its OpenAPI description is at /openapi.json, docs at /docs).

Every state-changing call needs the session's CSRF token in ``X-CSRF-Token``.
Errors: 401 not logged in, 403 role may not, 404 not found or outside the user's
sites, 409 someone else saved first (``current`` holds the newer values), 422 edit
checks failed (``errors`` maps each field to its message).
"""

# No "from __future__ import annotations" here: the per-kind routes are built in a
# loop and FastAPI must see each route's real body type, not a string.

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, StringConstraints

from eap.errors import AuthError, EapError, EditCheckError
from eap.store import audit, ctcae, service
from eap.store.access import ROLE_LABELS
from eap.store.models import Site
from eap.store.schemas import (
    AdverseEventIn,
    AdverseEventUpdate,
    DeathIn,
    DeathUpdate,
    DiscontinuationIn,
    DiscontinuationUpdate,
    DosingIn,
    DosingUpdate,
    PatientIn,
    PatientUpdate,
    QueryIn,
    QueryUpdate,
    Removal,
    VisitIn,
    VisitUpdate,
)
from eap.store.users import change_password
from eap.web.app import (
    PathId,
    client_address,
    current_login,
    log_in_turn,
    settings,
    transaction,
)
from eap.web.auth import (
    COOKIE,
    CSRF_HEADER,
    Login,
    check_csrf,
    close_session,
    request_token,
)

router = APIRouter(prefix="/api", tags=["api"])


def reader(request: Request) -> Login:
    """Any logged-in user."""
    return current_login(request)


def writer(request: Request) -> Login:
    """A logged-in user sending the session's CSRF token."""
    login = current_login(request)
    check_csrf(login.csrf, request.headers.get(CSRF_HEADER))
    return login


def account_writer(request: Request) -> Login:
    """A logged-in user with the CSRF token, also while a password change is required."""
    login = current_login(request, password_change=True)
    check_csrf(login.csrf, request.headers.get(CSRF_HEADER))
    return login


def account_reader(request: Request) -> Login:
    """Any logged-in user, also while a password change is required."""
    return current_login(request, password_change=True)


Reader = Annotated[Login, Depends(reader)]
Writer = Annotated[Login, Depends(writer)]
AccountReader = Annotated[Login, Depends(account_reader)]
AccountWriter = Annotated[Login, Depends(account_writer)]
Json = dict[str, Any]


def today(request: Request) -> dt.date:
    return settings(request).today()


# --------------------------------------------------------------------------- session


class Credentials(BaseModel):
    username: Annotated[str, StringConstraints(max_length=100)]
    password: Annotated[str, StringConstraints(max_length=200)]


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        secure=settings(request).secure_cookies,
        samesite="strict",
        path="/",
    )


@router.post("/session", summary="Log in")
async def login(request: Request, response: Response, creds: Credentials) -> Json:
    """Check the password and open a session; returns the CSRF token to send in
    ``X-CSRF-Token``. Any refusal answers 401 "wrong username or password"; 429 when the
    client address failed too many logins lately. ``must_change_password`` true: the
    password was reset and ``POST /api/password`` is all the session may do."""
    token, csrf, me = await log_in_turn(request, creds.username, creds.password)
    set_session_cookie(request, response, token)
    return {**me, "csrf_token": csrf}


@router.delete("/session", summary="Log out")
def logout(request: Request, response: Response, login: AccountWriter) -> Json:
    with transaction(request) as db:
        close_session(db, request_token(request))
    response.delete_cookie(COOKIE, path="/")
    return {"detail": "logged out"}


@router.get("/session", summary="Who am I")
def me(login: AccountReader) -> Json:
    a = login.actor
    return {
        "username": a.username,
        "role": a.role,
        "role_label": ROLE_LABELS[a.role],
        "site_id": a.site_id,
        "csrf_token": login.csrf,
        "must_change_password": login.must_change_password,
    }


class PasswordChange(BaseModel):
    old_password: Annotated[str, StringConstraints(max_length=200)]
    new_password: Annotated[str, StringConstraints(max_length=200)]


@router.post("/password", summary="Change my password")
def password(request: Request, login: AccountWriter, body: PasswordChange) -> Json:
    """The old password is checked like a login (a wrong one counts as a failed login);
    the new one needs at least 10 characters and must differ. Closes the user's other
    sessions; this one stays open."""
    update_password(request, login, body.old_password, body.new_password)
    return {"detail": "password changed"}


def update_password(request: Request, login: Login, old: str, new: str) -> None:
    """Change the logged-in user's password; EditCheckError names the field at fault."""
    try:
        change_password(
            request.app.state.sessions,
            login.actor.username,
            old,
            new,
            keep_session=login.token_hash,
            client=client_address(request),
        )
    except AuthError:
        raise EditCheckError({"old_password": "wrong password"}) from None
    except EapError as exc:
        raise EditCheckError({exc.variable or "new_password": str(exc)}) from None


# --------------------------------------------------------------------------- reference


@router.get("/sites", summary="Sites")
def sites(request: Request, login: Reader) -> list[Json]:
    with transaction(request) as db:
        rows = db.query(Site).order_by(Site.code).all()
        if not login.actor.all_sites:
            rows = [s for s in rows if s.id == login.actor.site_id]
        return [{"id": s.id, "code": s.code, "name": s.name} for s in rows]


@router.get("/ctcae", summary="Search CTCAE v4.03 terms")
def ctcae_search(
    login: Reader, q: Annotated[str, StringConstraints(max_length=100)] = ""
) -> list[Json]:
    return [{"term": t.term, "soc": t.soc, "grades": t.defined_grades()} for t in ctcae.search(q)]


@router.get("/ctcae/grade", summary="A CTCAE term's grade definition")
def ctcae_grade(
    login: Reader,
    term: Annotated[str, StringConstraints(max_length=200)],
    grade: int,
) -> Json:
    t = ctcae.lookup(term)
    if t is None:
        return {"term": term, "grade": grade, "defined": False, "text": None}
    text = t.grade_text(grade) if -10 < grade < 10 else None
    return {"term": t.term, "grade": grade, "defined": text is not None, "text": text}


# --------------------------------------------------------------------------- patients


@router.get("/patients", summary="Patients the user may see")
def list_patients(request: Request, login: Reader) -> list[Json]:
    with transaction(request) as db:
        return [
            service.patient_view(db, p, today(request))
            for p in service.list_patients(db, login.actor)
        ]


@router.post("/patients", status_code=201, summary="Register a patient from the parent trial")
def register(request: Request, login: Writer, data: PatientIn) -> Json:
    """Stores the patient with the protocol's rollover decision, phase, reasons,
    creatinine clearance (Cockcroft-Gault) and starting dose."""
    with transaction(request) as db:
        p = service.register_patient(db, login.actor, data, today(request))
        return service.patient_view(db, p, today(request))


@router.get("/patients/{patient_id}", summary="A patient")
def get_patient(request: Request, login: Reader, patient_id: PathId) -> Json:
    with transaction(request) as db:
        p = service.get_patient(db, login.actor, patient_id)
        return service.patient_view(db, p, today(request))


@router.put("/patients/{patient_id}", summary="Correct a registration (version + reason)")
def update_patient(
    request: Request, login: Writer, patient_id: PathId, body: PatientUpdate
) -> Json:
    with transaction(request) as db:
        p = service.update_patient(
            db, login.actor, patient_id, body.version, body.reason, body.values, today(request)
        )
        return service.patient_view(db, p, today(request))


@router.get("/patients/{patient_id}/timeline", summary="Everything dated, in order")
def timeline(request: Request, login: Reader, patient_id: PathId) -> list[Json]:
    with transaction(request) as db:
        p = service.get_patient(db, login.actor, patient_id)
        return [{**e, "date": e["date"].isoformat()} for e in service.timeline(db, p)]


@router.get("/patients/{patient_id}/schedule", summary="Follow-up visits and window status")
def visit_schedule(request: Request, login: Reader, patient_id: PathId) -> Json:
    with transaction(request) as db:
        p = service.get_patient(db, login.actor, patient_id)
        s = settings(request)
        sched = service.schedule(db, p, s.today(), s.last_parent_enrollment)
        return sched.as_dict() if sched else {"visits": []}


@router.get("/patients/{patient_id}/audit", summary="The patient's full audit trail")
def patient_audit(request: Request, login: Reader, patient_id: PathId) -> list[Json]:
    with transaction(request) as db:
        service.get_patient(db, login.actor, patient_id)
        return [
            {
                "id": e.id,
                "ts": e.ts.isoformat(),
                "username": e.username,
                "action": e.action,
                "table": e.table_name,
                "record_id": e.record_id,
                "field": e.field,
                "old": e.old_value,
                "new": e.new_value,
                "reason": e.reason,
            }
            for e in audit.history(db, patient_id)
        ]


@router.delete("/patients/{patient_id}", summary="Soft-delete a patient (sponsor only)")
def delete_patient(request: Request, login: Writer, patient_id: PathId, body: Removal) -> Json:
    with transaction(request) as db:
        p = service.delete_patient(db, login.actor, patient_id, body.version, body.reason)
        return service.patient_view(db, p, today(request))


# --------------------------------------------------------------------------- records


def _kind_routes(name: str, create: type[BaseModel], update: type[BaseModel]) -> None:
    label = service.KINDS[name].label

    def list_(request: Request, login: Reader, patient_id: PathId) -> list[Json]:
        with transaction(request) as db:
            service.get_patient(db, login.actor, patient_id)
            model = service.KINDS[name].model
            rows = db.query(model).filter(model.patient_id == patient_id).order_by(model.id)
            return [service.snapshot(r) for r in rows]

    def add(request: Request, login: Writer, patient_id: PathId, data: create) -> Json:  # type: ignore[valid-type]
        with transaction(request) as db:
            r = service.add_record(db, login.actor, patient_id, name, data, today(request))
            return service.snapshot(r)

    def get(request: Request, login: Reader, patient_id: PathId, record_id: PathId) -> Json:
        with transaction(request) as db:
            return service.snapshot(
                service.get_record(db, login.actor, patient_id, name, record_id)
            )

    def put(
        request: Request,
        login: Writer,
        patient_id: PathId,
        record_id: PathId,
        body: update,  # type: ignore[valid-type]
    ) -> Json:
        with transaction(request) as db:
            r = service.update_record(
                db,
                login.actor,
                patient_id,
                name,
                record_id,
                body.version,  # type: ignore[attr-defined]
                body.reason,  # type: ignore[attr-defined]
                body.values,  # type: ignore[attr-defined]
                today(request),
            )
            return service.snapshot(r)

    def remove(
        request: Request, login: Writer, patient_id: PathId, record_id: PathId, body: Removal
    ) -> Json:
        with transaction(request) as db:
            r = service.delete_record(
                db, login.actor, patient_id, name, record_id, body.version, body.reason
            )
            return service.snapshot(r)

    base = f"/patients/{{patient_id}}/{name}"
    endpoints: list[tuple[str, str, Callable[..., Any], str, int]] = [
        ("GET", base, list_, f"List {label.lower()} records", 200),
        ("POST", base, add, f"Record {label.lower()}", 201),
        ("GET", base + "/{record_id}", get, f"One {label.lower()} record", 200),
        ("PUT", base + "/{record_id}", put, f"Change {label.lower()} (version + reason)", 200),
        ("DELETE", base + "/{record_id}", remove, f"Soft-delete {label.lower()}", 200),
    ]
    for method, path, fn, summary, status in endpoints:
        router.add_api_route(
            path,
            fn,
            methods=[method],
            summary=summary,
            status_code=status,
            operation_id=f"{fn.__name__.strip('_')}_{name}",
        )


_kind_routes("dosing", DosingIn, DosingUpdate)
_kind_routes("ae", AdverseEventIn, AdverseEventUpdate)
_kind_routes("visits", VisitIn, VisitUpdate)
_kind_routes("death", DeathIn, DeathUpdate)
_kind_routes("discontinuation", DiscontinuationIn, DiscontinuationUpdate)


# --------------------------------------------------------------------------- transferred records


@router.get("/patients/{patient_id}/transferred", summary="Transferred records, by page section")
def list_transferred(request: Request, login: Reader, patient_id: int) -> list[Json]:
    with transaction(request) as db:
        service.get_patient(db, login.actor, patient_id)
        return [
            {
                **e,
                "date": e["date"].isoformat() if e["date"] else None,
                "end": e["end"].isoformat() if e["end"] else None,
            }
            for e in service.transferred_entries(db, patient_id)
        ]


@router.delete(
    "/patients/{patient_id}/transferred/{record_id}",
    summary="Set a transferred record aside (version + reason)",
)
def delete_transferred(
    request: Request, login: Writer, patient_id: int, record_id: int, body: Removal
) -> Json:
    with transaction(request) as db:
        r = service.delete_transferred_record(
            db, login.actor, patient_id, record_id, body.version, body.reason
        )
        return service.snapshot(r)


# --------------------------------------------------------------------------- queries


@router.get("/patients/{patient_id}/queries", summary="Data queries on a patient")
def list_queries(request: Request, login: Reader, patient_id: PathId) -> list[Json]:
    with transaction(request) as db:
        return [service.snapshot(q) for q in service.queries_of(db, login.actor, patient_id)]


@router.post("/patients/{patient_id}/queries", status_code=201, summary="Raise a data query")
def raise_query(request: Request, login: Writer, patient_id: PathId, data: QueryIn) -> Json:
    with transaction(request) as db:
        return service.snapshot(service.raise_query(db, login.actor, patient_id, data))


@router.put(
    "/patients/{patient_id}/queries/{query_id}",
    summary="Answer, close or reopen (open -> answered -> closed -> reopened)",
)
def update_query(
    request: Request, login: Writer, patient_id: PathId, query_id: PathId, body: QueryUpdate
) -> Json:
    with transaction(request) as db:
        q = service.update_query(
            db, login.actor, patient_id, query_id, body.version, body.values, body.reason
        )
        return service.snapshot(q)


# --------------------------------------------------------------------------- dashboard


@router.get("/dashboard", summary="Enrollment, overdue visits, open serious AEs, exposure")
def dashboard(request: Request, login: Reader) -> Json:
    with transaction(request) as db:
        s = settings(request)
        return service.dashboard(db, login.actor, s.today(), s.last_parent_enrollment)
