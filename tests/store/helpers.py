"""Shared builders for store and web tests: a study with two sites and one user per role."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from eap.store.access import Actor
from eap.store.bootstrap import init_study
from eap.store.db import make_engine, make_sessionmaker
from eap.store.models import User
from eap.store.schemas import PatientIn
from eap.store.service import register_patient
from eap.store.users import add_user

TODAY = dt.date(2016, 6, 1)
PASSWORD = "correct horse battery"

# Role x site of each test account: site 01 is "A", site 02 is "B".
ACCOUNTS = {
    "admin": ("sponsor_admin", None),
    "inv_a": ("investigator", "01"),
    "coord_a": ("coordinator", "01"),
    "inv_b": ("investigator", "02"),
    "coord_b": ("coordinator", "02"),
    "monitor": ("monitor", None),
    "dm": ("data_manager", None),
}


@dataclass
class Study:
    url: str
    sessions: sessionmaker[Session]
    actors: dict[str, Actor]


def make_study(url: str) -> Study:
    init_study(url)
    factory = make_sessionmaker(make_engine(url))
    actors: dict[str, Actor] = {}
    with factory.begin() as db:
        for name, (role, site) in ACCOUNTS.items():
            user: User = add_user(db, name, PASSWORD, role, site)
            actors[name] = Actor.of(user)
    return Study(url, factory, actors)


def patient_in(subjid: str = "0101", **over: Any) -> PatientIn:
    """A Treatment Phase patient: on Rd since 2011-12-01, assessed 2013-01-10."""
    values: dict[str, Any] = dict(
        subjid=subjid,
        sex="M",
        age=65,
        weight_kg=70.0,
        creatinine=1.1,
        assessment_date=dt.date(2013, 1, 10),
        consent_signed=True,
        lenalidomide_start_date=dt.date(2011, 12, 1),
    )
    values.update(over)
    return PatientIn(**values)


def register(study: Study, actor: str, subjid: str = "0101", **over: Any) -> int:
    with study.sessions.begin() as db:
        p = register_patient(db, study.actors[actor], patient_in(subjid, **over), TODAY)
        return p.id
