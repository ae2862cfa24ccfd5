"""A login flood against a logged-in reader, on SQLite, through a real ``eap serve`` (uvicorn).

Eight threads post logins for usernames that do not exist, as fast as the server answers
(each answer costs an argon2 check, about half a second with the production parameters);
meanwhile a logged-in user reads one patient (``GET /api/patients/ID``) again and again.
The reader's latency is measured quiet and under the flood. The client address limit is
off here: a flood from many addresses is the worst case, and one address alone would be
answered 429 after ten failures. Goal: p95 under the flood within 10x the quiet p95.
"""

from __future__ import annotations

import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from eap.store.bootstrap import init_study
from eap.store.db import make_engine, make_sessionmaker
from eap.store.service import register_patient
from eap.store.users import add_user
from eap.web.app import create_app

PASSWORD = "benchmark password"
FLOOD_THREADS = 8
SAMPLES = 200  # at least this many reads...
MIN_SECONDS = 10.0  # ...over at least this long...
MAX_SECONDS = 120.0  # ...and never longer than this


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _study(url: str) -> int:
    """A study with one sponsor administrator and one patient; the patient's id."""
    import datetime as dt

    from eap.store.access import Actor
    from eap.store.schemas import PatientIn

    init_study(url)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as db:
            user = add_user(db, "sponsor", PASSWORD, "sponsor_admin")
            patient = register_patient(
                db,
                Actor.of(user),
                PatientIn(
                    site_code="01",
                    subjid="0101",
                    sex="M",
                    age=65,
                    weight_kg=70.0,
                    creatinine=1.1,
                    assessment_date=dt.date(2013, 1, 10),
                    consent_signed=True,
                    lenalidomide_start_date=dt.date(2011, 12, 1),
                ),
                dt.date(2016, 6, 1),
            )
            return patient.id
    finally:
        engine.dispose()


def _latencies(reader: httpx.Client, path: str) -> list[float]:
    """Milliseconds of each read: at least SAMPLES over at least MIN_SECONDS (fewer if
    MAX_SECONDS runs out)."""
    out: list[float] = []
    begin = time.perf_counter()
    while time.perf_counter() - begin < MAX_SECONDS and (
        len(out) < SAMPLES or time.perf_counter() - begin < MIN_SECONDS
    ):
        start = time.perf_counter()
        r = reader.get(path)
        out.append((time.perf_counter() - start) * 1000)
        assert r.status_code == 200, r.text
    return out


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def _flood(base: str, stop: threading.Event, answers: list[int], n: int) -> None:
    with httpx.Client(base_url=base, timeout=120) as c:
        i = 0
        while not stop.is_set():
            r = c.post("/api/session", json={"username": f"ghost{n}-{i}", "password": "guess"})
            answers.append(r.status_code)
            i += 1


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'study.db'}"
        patient_id = _study(url)
        app = create_app(url, secure_cookies=False, login_failures_per_address=None)
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        serving = threading.Thread(target=server.run, daemon=True)
        serving.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        path = f"/api/patients/{patient_id}"
        try:
            with httpx.Client(base_url=base, timeout=120) as reader:
                r = reader.post("/api/session", json={"username": "sponsor", "password": PASSWORD})
                assert r.status_code == 200, r.text
                _latencies(reader, path)  # warm up
                quiet = _latencies(reader, path)
                stop = threading.Event()
                answers: list[int] = []
                flooders = [
                    threading.Thread(target=_flood, args=(base, stop, answers, n))
                    for n in range(FLOOD_THREADS)
                ]
                for t in flooders:
                    t.start()
                time.sleep(2.0)  # let the flood build up
                flooded = _latencies(reader, path)
                stop.set()
                for t in flooders:
                    t.join()
        finally:
            server.should_exit = True
            serving.join()
            app.state.engine.dispose()
    q50, q95 = statistics.median(quiet), _p95(quiet)
    f50, f95 = statistics.median(flooded), _p95(flooded)
    print(f"GET {path}, quiet:     p50 {q50:7.1f} ms  p95 {q95:7.1f} ms  ({len(quiet)} reads)")
    print(
        f"GET {path}, {FLOOD_THREADS} login threads: p50 {f50:7.1f} ms  p95 {f95:7.1f} ms  "
        f"({len(flooded)} reads; {len(answers)} logins refused "
        f"{sorted(set(answers))})"
    )
    ratio = f95 / q95
    verdict = "met" if ratio < 10.0 else "NOT met"
    print(f"p95 ratio flood / quiet: {ratio:.1f}x (goal < 10x: {verdict})")


if __name__ == "__main__":
    main()
