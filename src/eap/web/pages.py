"""Server-rendered pages (Jinja2, HTMX for the CTCAE term picker and grade definition).

Every POST carries the session's CSRF token in a hidden field. Pages call the same
services as the API, so access rules and edit checks are the same; a refused
value comes back in the form with its message beside the field.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from eap.errors import AuthError, ConflictError, EditCheckError
from eap.store import audit, ctcae, service
from eap.store.access import ROLE_LABELS, require_clinical_write
from eap.store.models import Site
from eap.web import forms
from eap.web.api import update_password
from eap.web.app import PathId, current_login, log_in_turn, settings, transaction
from eap.web.auth import (
    COOKIE,
    LOGIN_CSRF_COOKIE,
    Login,
    check_csrf,
    close_session,
    request_token,
)

router = APIRouter(include_in_schema=False)


async def posted(request: Request) -> dict[str, str]:
    """The posted form as plain strings (files are not accepted)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


Form = Annotated[dict[str, str], Depends(posted)]


def page_login(request: Request) -> Login:
    return current_login(request)


PageLogin = Annotated[Login, Depends(page_login)]


def form_login(request: Request, form: Form) -> Login:
    """A logged-in user whose form carries the session's CSRF token."""
    login = current_login(request)
    check_csrf(login.csrf, form.get("csrf_token"))
    return login


FormLogin = Annotated[Login, Depends(form_login)]


def account_form_login(request: Request, form: Form) -> Login:
    """As form_login, also while a password change is required (logout, the change)."""
    login = current_login(request, password_change=True)
    check_csrf(login.csrf, form.get("csrf_token"))
    return login


def account_page_login(request: Request) -> Login:
    return current_login(request, password_change=True)


AccountFormLogin = Annotated[Login, Depends(account_form_login)]
AccountPageLogin = Annotated[Login, Depends(account_page_login)]


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    login: Login | None = getattr(request.state, "login", None)
    base = {
        "login": login,
        "role_label": ROLE_LABELS.get(login.actor.role, "") if login else "",
        "csrf": login.csrf if login else "",
    }
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, name, {**base, **context}, status_code=status_code
    )
    return response


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# --------------------------------------------------------------------------- login


@router.get("/login")
def login_form(request: Request, error: str | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {"login_csrf": token, "error": error})
    # Login CSRF: a double-submit token, since there is no session yet.
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        secure=settings(request).secure_cookies,
        samesite="strict",
    )
    return response


@router.post("/login")
async def login_submit(request: Request, form: Form) -> Response:
    check_csrf(request.cookies.get(LOGIN_CSRF_COOKIE) or "", form.get("csrf_token"))
    failure: AuthError | None = None
    try:
        token, _csrf, who = await log_in_turn(
            request, form.get("username", "")[:100], form.get("password", "")[:200]
        )
    except AuthError as exc:
        failure = exc
    if failure is not None:
        new_token = secrets.token_urlsafe(24)
        response = render(
            request, "login.html", {"login_csrf": new_token, "error": str(failure)}, 401
        )
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            new_token,
            httponly=True,
            secure=settings(request).secure_cookies,
            samesite="strict",
        )
        return response
    redirect = see_other("/password" if who["must_change_password"] else "/patients")
    redirect.set_cookie(
        COOKIE,
        token,
        httponly=True,
        secure=settings(request).secure_cookies,
        samesite="strict",
        path="/",
    )
    redirect.delete_cookie(LOGIN_CSRF_COOKIE)
    return redirect


@router.post("/logout")
def logout(request: Request, login: AccountFormLogin) -> Response:
    with transaction(request) as db:
        close_session(db, request_token(request))
    response = see_other("/login")
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/password")
def password_form(request: Request, login: AccountPageLogin) -> Response:
    return render(request, "password.html", {"errors": {}, "done": False})


@router.post("/password")
def password_submit(request: Request, login: AccountFormLogin, form: Form) -> Response:
    """Change one's own password; a refused change comes back with the message beside
    the field. After a forced change the user goes on to the patient list."""
    try:
        update_password(
            request, login, form.get("old_password", "")[:200], form.get("new_password", "")[:200]
        )
    except EditCheckError as exc:
        return render(request, "password.html", {"errors": exc.errors, "done": False}, 422)
    if login.must_change_password:
        return see_other("/patients")
    return render(request, "password.html", {"errors": {}, "done": True})


@router.get("/")
def home(login: PageLogin) -> Response:
    return see_other("/patients")


# --------------------------------------------------------------------------- patients


def _sites(request: Request, login: Login) -> list[Site]:
    with transaction(request) as db:
        rows = list(db.scalars(select(Site).order_by(Site.code)))
    return [s for s in rows if login.actor.all_sites or s.id == login.actor.site_id]


@router.get("/patients")
def patients(request: Request, login: PageLogin) -> Response:
    with transaction(request) as db:
        rows = [
            service.patient_view(db, p, settings(request).today())
            for p in service.list_patients(db, login.actor)
        ]
    return render(request, "patients.html", {"patients": rows})


def _patient_form(
    request: Request,
    login: Login,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    action: str,
    title: str,
    edit: bool = False,
    conflict: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    sites = _sites(request, login)
    fields = list(forms.PATIENT_FIELDS)
    fields[1] = forms.Field(
        "site_code", "Site", "select", tuple((s.code, f"{s.code} {s.name}") for s in sites)
    )
    return render(
        request,
        "record_form.html",
        {
            "title": title,
            "action": action,
            "fields": fields,
            "values": values,
            "errors": errors,
            "edit": edit,
            "conflict": conflict,
            "kind": "patient",
            "back": "/patients",
        },
        status_code,
    )


@router.get("/patients/new")
def new_patient(request: Request, login: PageLogin) -> Response:
    require_clinical_write(login.actor)
    values = {"consent_signed": "on", "creatinine_unit": "mg/dL"}
    return _patient_form(
        request, login, values, {}, action="/patients/new", title="Register a patient from MM-021"
    )


@router.post("/patients/new")
def create_patient(request: Request, login: FormLogin, form: Form) -> Response:
    require_clinical_write(login.actor)
    data, errors = forms.parse_patient(form)
    if data is not None:
        try:
            with transaction(request) as db:
                p = service.register_patient(
                    db,
                    login.actor,
                    data,
                    settings(request).today(),
                )
                pid = p.id
            return see_other(f"/patients/{pid}")
        except EditCheckError as exc:
            errors = exc.errors
    return _patient_form(
        request,
        login,
        form,
        errors,
        action="/patients/new",
        title="Register a patient from MM-021",
        status_code=422,
    )


@router.get("/patients/{patient_id}")
def patient_page(request: Request, login: PageLogin, patient_id: PathId) -> Response:
    s = settings(request)
    with transaction(request) as db:
        p = service.get_patient(db, login.actor, patient_id)
        view = service.patient_view(db, p, s.today())
        events = service.timeline(db, p)
        sections = _sections(db, p.id)
        as_of = service.schedule_as_of(db, p, s.today())
        sched = service.schedule(db, p, s.today(), s.last_parent_enrollment)
        ends = service.schedule_end(db, p, sched) if sched else None
        # What each contact (a visit or a cycle, entered or transferred) counts for.
        contacts = {
            r["date"]: service.contact_label(sched, p, r["date"])
            for name in ("visits", "dosing")
            for r in sections[name]
            if r["date"] is not None
        }
        queries = [service.snapshot(q) for q in service.queries_of(db, login.actor, patient_id)]
    return render(
        request,
        "patient.html",
        {
            "p": view,
            "events": events,
            "sections": sections,
            "kinds": service.KINDS,
            "extra_sections": service.TRANSFERRED_SECTIONS,
            "schedule": sched,
            "as_of": as_of,
            "ends": ends,
            "contacts": contacts,
            "queries": queries,
        },
    )


def _sections(db: Session, patient_id: int) -> dict[str, list[dict[str, Any]]]:
    """Each section's rows, entered and transferred together in date order.

    Entered rows carry the record's fields (the page offers Correct and Delete);
    transferred rows are marked ``transferred`` and are read-only on the page.
    """
    sections: dict[str, list[dict[str, Any]]] = {
        name: [
            {
                **service.snapshot(r),
                "text": service.describe(name, r),
                "date": service.record_date(r),
                "transferred": False,
            }
            for r in db.scalars(
                select(spec.model)
                .where(spec.model.patient_id == patient_id)
                .order_by(spec.model.id)
            )
        ]
        for name, spec in service.KINDS.items()
    }
    for name in service.TRANSFERRED_SECTIONS:
        sections[name] = []
    for entry in service.transferred_entries(db, patient_id):
        sections[entry["section"]].append({**entry, "transferred": True})
    for rows in sections.values():
        rows.sort(key=lambda r: (r["date"] is None, r["date"] or dt.date.min))
    return sections


@router.get("/patients/{patient_id}/edit")
def edit_patient(request: Request, login: PageLogin, patient_id: PathId) -> Response:
    require_clinical_write(login.actor)
    with transaction(request) as db:
        p = service.get_patient(db, login.actor, patient_id)
        view = service.patient_view(db, p, settings(request).today())
    values = forms.form_values(view)
    return _patient_form(
        request,
        login,
        values,
        {},
        action=f"/patients/{patient_id}/edit",
        title=f"Correct {view['usubjid']}",
        edit=True,
    )


@router.post("/patients/{patient_id}/edit")
def update_patient(request: Request, login: FormLogin, form: Form, patient_id: PathId) -> Response:
    require_clinical_write(login.actor)
    data, errors = forms.parse_patient(form)
    conflict: dict[str, Any] | None = None
    version, (reason, reason_error) = form.get("version", ""), forms.reason_of(form)
    if reason is None:
        errors["reason"] = reason_error or "a reason is needed"
    seen = forms.ascii_int(version)
    if seen is None:
        errors["version"] = f"version must be a whole number; found {version[:20]!r}"
    if data is not None and seen is not None and reason is not None and not errors:
        try:
            with transaction(request) as db:
                service.update_patient(
                    db,
                    login.actor,
                    patient_id,
                    seen,
                    reason,
                    data,
                    settings(request).today(),
                )
            return see_other(f"/patients/{patient_id}")
        except EditCheckError as exc:
            errors = exc.errors
        except ConflictError as exc:
            conflict = exc.current
    return _patient_form(
        request,
        login,
        form,
        errors,
        action=f"/patients/{patient_id}/edit",
        title="Correct the registration",
        edit=True,
        conflict=conflict,
        status_code=409 if conflict else 422,
    )


# --------------------------------------------------------------------------- records


def _record_form(
    request: Request,
    patient: dict[str, Any],
    kind: str,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    action: str,
    edit: bool,
    conflict: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    spec = service.kind(kind)
    verb = "Correct" if edit else "Record"
    return render(
        request,
        "record_form.html",
        {
            "title": f"{verb} {spec.label.lower()} for {patient['usubjid']}",
            "action": action,
            "fields": forms.fields_of(kind),
            "values": values,
            "errors": errors,
            "edit": edit,
            "conflict": conflict,
            "kind": kind,
            "back": f"/patients/{patient['id']}",
            "grade_text": _grade_text(values.get("ctcae_term", ""), values.get("grade", "")),
        },
        status_code,
    )


def _patient_dict(request: Request, login: Login, patient_id: PathId) -> dict[str, Any]:
    with transaction(request) as db:
        p = service.get_patient(db, login.actor, patient_id)
        return {"id": p.id, "usubjid": p.usubjid}


@router.get("/patients/{patient_id}/{kind}/new")
def new_record(request: Request, login: PageLogin, patient_id: PathId, kind: str) -> Response:
    require_clinical_write(login.actor)
    service.kind(kind)
    patient = _patient_dict(request, login, patient_id)
    defaults = {
        "alive": "on",
        "frequency": "daily",
        "grade": "1",
        "related": "NOT RELATED",
        "action": "DOSE NOT CHANGED",
        "outcome": "NOT RECOVERED/NOT RESOLVED",
    }
    return _record_form(
        request,
        patient,
        kind,
        defaults,
        {},
        action=f"/patients/{patient_id}/{kind}/new",
        edit=False,
    )


@router.post("/patients/{patient_id}/{kind}/new")
def create_record(
    request: Request, login: FormLogin, form: Form, patient_id: PathId, kind: str
) -> Response:
    require_clinical_write(login.actor)
    service.kind(kind)
    patient = _patient_dict(request, login, patient_id)
    data, errors = forms.parse(kind, form)
    if data is not None:
        try:
            with transaction(request) as db:
                service.add_record(
                    db, login.actor, patient_id, kind, data, settings(request).today()
                )
            return see_other(f"/patients/{patient_id}")
        except EditCheckError as exc:
            errors = exc.errors
    return _record_form(
        request,
        patient,
        kind,
        form,
        errors,
        action=f"/patients/{patient_id}/{kind}/new",
        edit=False,
        status_code=422,
    )


@router.get("/patients/{patient_id}/{kind}/{record_id}/edit")
def edit_record(
    request: Request, login: PageLogin, patient_id: PathId, kind: str, record_id: PathId
) -> Response:
    require_clinical_write(login.actor)
    patient = _patient_dict(request, login, patient_id)
    with transaction(request) as db:
        r = service.get_record(db, login.actor, patient_id, kind, record_id)
        values = forms.form_values({**r.data(), "version": r.version})
    return _record_form(
        request,
        patient,
        kind,
        values,
        {},
        action=f"/patients/{patient_id}/{kind}/{record_id}/edit",
        edit=True,
    )


@router.post("/patients/{patient_id}/{kind}/{record_id}/edit")
def update_record(
    request: Request, login: FormLogin, form: Form, patient_id: PathId, kind: str, record_id: PathId
) -> Response:
    require_clinical_write(login.actor)
    service.kind(kind)
    patient = _patient_dict(request, login, patient_id)
    data, errors = forms.parse(kind, form)
    version, (reason, reason_error) = form.get("version", ""), forms.reason_of(form)
    if reason is None:
        errors["reason"] = reason_error or "a reason is needed"
    seen = forms.ascii_int(version)
    if seen is None:
        errors["version"] = f"version must be a whole number; found {version[:20]!r}"
    conflict: dict[str, Any] | None = None
    if data is not None and seen is not None and reason is not None and not errors:
        try:
            with transaction(request) as db:
                service.update_record(
                    db,
                    login.actor,
                    patient_id,
                    kind,
                    record_id,
                    seen,
                    reason,
                    data,
                    settings(request).today(),
                )
            return see_other(f"/patients/{patient_id}")
        except EditCheckError as exc:
            errors = exc.errors
        except ConflictError as exc:
            conflict = exc.current
    return _record_form(
        request,
        patient,
        kind,
        form,
        errors,
        action=f"/patients/{patient_id}/{kind}/{record_id}/edit",
        edit=True,
        conflict=conflict,
        status_code=409 if conflict else 422,
    )


@router.post("/patients/{patient_id}/transferred/{record_id}/delete")
def delete_transferred(
    request: Request, login: FormLogin, form: Form, patient_id: int, record_id: int
) -> Response:
    # Registered before the generic record routes, which would take "transferred" for a kind.
    require_clinical_write(login.actor)
    version, reason = form.get("version", ""), form.get("reason", "").strip()[:200]
    if not reason or not version.isdigit():
        return render(
            request,
            "error.html",
            {
                "message": "Setting a transferred record aside needs a reason.",
                "back": f"/patients/{patient_id}",
            },
            422,
        )
    with transaction(request) as db:
        service.delete_transferred_record(
            db, login.actor, patient_id, record_id, int(version), reason
        )
    return see_other(f"/patients/{patient_id}")


@router.post("/patients/{patient_id}/{kind}/{record_id}/delete")
def delete_record(
    request: Request, login: FormLogin, form: Form, patient_id: PathId, kind: str, record_id: PathId
) -> Response:
    require_clinical_write(login.actor)
    version, (reason, _error) = form.get("version", ""), forms.reason_of(form)
    seen = forms.ascii_int(version)
    if not reason or seen is None:
        return render(
            request,
            "error.html",
            {"message": "A deletion needs a reason.", "back": f"/patients/{patient_id}"},
            422,
        )
    with transaction(request) as db:
        service.delete_record(db, login.actor, patient_id, kind, record_id, seen, reason)
    return see_other(f"/patients/{patient_id}")


@router.get("/patients/{patient_id}/audit")
def audit_page(request: Request, login: PageLogin, patient_id: PathId) -> Response:
    with transaction(request) as db:
        p = service.get_patient(db, login.actor, patient_id)
        usubjid = p.usubjid
        entries = audit.history(db, patient_id)
    return render(
        request, "audit.html", {"usubjid": usubjid, "pid": patient_id, "entries": entries}
    )


# --------------------------------------------------------------------------- queries


@router.post("/patients/{patient_id}/queries")
def raise_query(request: Request, login: FormLogin, form: Form, patient_id: PathId) -> Response:
    from pydantic import ValidationError

    from eap.store.schemas import QueryIn

    try:
        data = QueryIn(question=form.get("question", ""), field=form.get("field") or None)
    except ValidationError:
        data = None
    if data is None or not data.question:
        return render(
            request,
            "error.html",
            {
                "message": "A query needs its question (at most 2000 characters).",
                "back": f"/patients/{patient_id}",
            },
            422,
        )
    with transaction(request) as db:
        service.raise_query(db, login.actor, patient_id, data)
    return see_other(f"/patients/{patient_id}")


@router.post("/patients/{patient_id}/queries/{query_id}")
def update_query(
    request: Request, login: FormLogin, form: Form, patient_id: PathId, query_id: PathId
) -> Response:
    from pydantic import ValidationError

    from eap.store.schemas import QueryAnswerIn

    back = f"/patients/{patient_id}"
    version = forms.ascii_int(form.get("version", ""))
    try:
        data: QueryAnswerIn | None = QueryAnswerIn(
            status=form.get("status", ""),  # type: ignore[arg-type]
            answer=form.get("answer") or None,
            note=form.get("note") or None,
        )
    except ValidationError:
        data = None
    if data is None or version is None:
        message = "Invalid query update (a status of answered, closed or reopened, text of at "
        message += "most 2000 characters, the version)."
        return render(request, "error.html", {"message": message, "back": back}, 422)
    reason, reason_error = forms.reason_of(form)
    if form.get("reason", "").strip() and reason is None:
        return render(request, "error.html", {"message": reason_error, "back": back}, 422)
    try:
        with transaction(request) as db:
            service.update_query(db, login.actor, patient_id, query_id, version, data, reason)
    except ConflictError as exc:
        return render(request, "error.html", {"message": str(exc), "back": back}, 409)
    except EditCheckError as exc:
        message = "; ".join(f"{k}: {v}" for k, v in exc.errors.items())
        return render(request, "error.html", {"message": message, "back": back}, 422)
    return see_other(back)


# --------------------------------------------------------------------------- dashboard


@router.get("/dashboard")
def dashboard_page(request: Request, login: PageLogin) -> Response:
    s = settings(request)
    with transaction(request) as db:
        data = service.dashboard(db, login.actor, s.today(), s.last_parent_enrollment)
    return render(request, "dashboard.html", {"d": data})


# --------------------------------------------------------------------------- CTCAE (HTMX)


def _grade_text(term: str, grade: str) -> str:
    t = ctcae.lookup(term[:200]) if term else None
    if t is None:
        return (
            "Choose a CTCAE term to see the grade's definition."
            if not term
            else (f"{term!r} is not a CTCAE v4.03 term.")
        )
    number = forms.ascii_int(grade, high=99)
    if number is None:
        return t.definition
    text = t.grade_text(number)
    if text is None:
        defined = ", ".join(str(g) for g in t.defined_grades())
        return f"Grade {grade} is not defined for {t.term} (defined: {defined})."
    return f"{t.term}, grade {grade}: {text}"


@router.get("/ctcae/options")
def ctcae_options(request: Request, login: PageLogin, ctcae_term: str = "") -> Response:
    terms = ctcae.search(ctcae_term[:100], limit=30)
    return render(request, "ctcae_options.html", {"terms": terms})


@router.get("/ctcae/grade")
def ctcae_grade(
    request: Request, login: PageLogin, ctcae_term: str = "", grade: str = ""
) -> Response:
    return render(request, "ctcae_grade.html", {"text": _grade_text(ctcae_term, grade)})
