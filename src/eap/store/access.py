"""Roles and what each may do; every read and write of patient data passes through here.

* ``sponsor_admin``: everything, every site.
* ``investigator`` and ``coordinator``: read and write their own site's patients.
* ``monitor``: read every site, change nothing.
* ``data_manager``: read every site; raise and close queries on the data.

A patient outside the user's scope is reported as not found, so a user of site A
cannot even learn which patient numbers exist at site B.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select

from eap.errors import AccessDeniedError, NotFoundError
from eap.store.models import Patient, User

SPONSOR_ADMIN = "sponsor_admin"
INVESTIGATOR = "investigator"
COORDINATOR = "coordinator"
MONITOR = "monitor"
DATA_MANAGER = "data_manager"

ROLES = (SPONSOR_ADMIN, INVESTIGATOR, COORDINATOR, MONITOR, DATA_MANAGER)
SITE_ROLES = frozenset({INVESTIGATOR, COORDINATOR})
ROLE_LABELS = {
    SPONSOR_ADMIN: "Sponsor administrator",
    INVESTIGATOR: "Site investigator",
    COORDINATOR: "Site coordinator",
    MONITOR: "Monitor",
    DATA_MANAGER: "Data manager",
}


@dataclass(frozen=True)
class Actor:
    """The logged-in user as the rules see them."""

    user_id: int
    username: str
    role: str
    site_id: int | None

    @classmethod
    def of(cls, user: User) -> Actor:
        return cls(user.id, user.username, user.role, user.site_id)

    @property
    def all_sites(self) -> bool:
        return self.role not in SITE_ROLES

    @property
    def writes_clinical(self) -> bool:
        return self.role in SITE_ROLES or self.role == SPONSOR_ADMIN

    @property
    def raises_queries(self) -> bool:
        return self.role in (DATA_MANAGER, SPONSOR_ADMIN)


def patients_query(actor: Actor) -> Select[Any]:
    """Patients this user may see."""
    stmt = select(Patient).order_by(Patient.usubjid)
    if not actor.all_sites:
        stmt = stmt.where(Patient.site_id == actor.site_id)
    return stmt


def check_site(actor: Actor, site_id: int) -> None:
    """NotFoundError unless the user's scope includes this site."""
    if not actor.all_sites and actor.site_id != site_id:
        raise NotFoundError("patient not found", dataset="patients")


def require_clinical_write(actor: Actor) -> None:
    """AccessDeniedError unless the role records clinical data."""
    if not actor.writes_clinical:
        raise AccessDeniedError(
            f"role {actor.role} cannot change clinical data",
            expected="sponsor administrator, site investigator or site coordinator",
            found=actor.role,
        )


def require_admin(actor: Actor) -> None:
    if actor.role != SPONSOR_ADMIN:
        raise AccessDeniedError(
            "sponsor administrators only", expected=SPONSOR_ADMIN, found=actor.role
        )
