"""Load the generated demo patient (``sample_images/``) into a store.

``sample_images/manifest.json`` (written by ``tracker samples``) lists each
photo's view, visit and date; this module adds them as one pseudonymous demo
patient so the app has something to show on a fresh machine.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from tracker.store import Store
from tracker.store.errors import NotFoundError
from tracker.store.records import NewPhoto, PatientInfo

DEMO_CODE = "DEMO-001"
#: Demo sign-ins, one per role (username, password, role); documented in the README.
DEMO_ACCOUNTS = (
    ("demo.clinician", "demo-clinician", "clinician"),
    ("demo.patient", "demo-patient", "patient"),
    ("demo.researcher", "demo-researcher", "researcher"),
)


def _view(name: str) -> str:
    """The store's name for a view of the generated set ('closeup-vertex' -> 'closeup:vertex')."""
    return "closeup:" + name.split("-", 1)[1] if name.startswith("closeup-") else name


def load_demo_patient(store: Store, folder: str | os.PathLike = "sample_images") -> PatientInfo:
    """Add the demo patient from `folder` unless the store has it already.

    Returns the patient. Each visit's photos are added in one call, so a
    failed load leaves no half-stored visit.
    """
    try:
        return store.patient(DEMO_CODE)
    except NotFoundError:
        pass
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        raise ValueError(f"{manifest_path} not found; run 'tracker samples --out {folder}' first")
    manifest = json.loads(manifest_path.read_text())
    patient = store.add_patient(DEMO_CODE, name="Demo Patient", user="demo")
    visits: dict[str, list[dict]] = {}
    for photo in manifest["photos"]:
        visits.setdefault(photo["visit_date"], []).append(photo)
    for i, (date, photos) in enumerate(sorted(visits.items())):
        visit = store.add_visit(
            patient.id,
            dt.date.fromisoformat(date),
            notes="Generated demo visit.",
            events=("baseline",) if i == 0 else (),
            user="demo",
        )
        store.add_photos(
            visit.id,
            [
                NewPhoto(
                    view=_view(p["view"]),
                    data=(folder / p["file"]).read_bytes(),
                    name=p["file"],
                    px_per_mm=p["px_per_mm"],
                    scale_source="magnification" if p["px_per_mm"] else None,
                )
                for p in photos
            ],
            user="demo",
        )
    return patient


def add_demo_accounts(store: Store) -> list[str]:
    """Add the :data:`DEMO_ACCOUNTS` that are missing; the patient one is the demo patient's.

    Returns the usernames added. For a demo store only: the passwords are public.
    """
    store.patient(DEMO_CODE)  # NotFoundError before any account is added: load the patient first
    have = {a.username for a in store.accounts()}
    added = []
    for username, password, role in DEMO_ACCOUNTS:
        if username not in have:
            patient = DEMO_CODE if role == "patient" else None
            store.add_account(username, password, role, patient=patient, user="demo")
            added.append(username)
    return added
