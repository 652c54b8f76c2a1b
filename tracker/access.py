"""What a signed-in account may see and do, enforced in one place.

The app's pages never call the :class:`~tracker.store.Store` directly: they
call an :class:`Access` made for the signed-in account, which checks every
request against the account's role before it reaches the store.

- **clinician**: every patient; adds patients, visits and photos, sets ROIs,
  exports measurements (identified by patient code, or de-identified).
- **patient**: their own record only, read-only.
- **researcher**: de-identified measurement tables only.

Examples
--------
>>> import tempfile, datetime
>>> from tracker.store import Store
>>> store = Store.open(tempfile.mkdtemp(), user="setup")
>>> _ = store.add_patient("P-1"); _ = store.add_patient("P-2")
>>> _ = store.add_account("pat.one", "a long password", "patient", patient="P-1")
>>> me = Access(store, store.authenticate("pat.one", "a long password"))
>>> [v.date for v in me.visits("P-1")]
[]
>>> me.visits("P-2")
Traceback (most recent call last):
...
tracker.access.AccessDenied: this account can see only its own record
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tracker.analysis import analyze, patch_mask_in_photo
from tracker.imaging.overlay import draw_overlay
from tracker.photo import load_photo
from tracker.store import (
    AccountInfo,
    AddedPhoto,
    MeasurementRow,
    NewPhoto,
    NotFoundError,
    PatientInfo,
    PhotoInfo,
    PhotoPlacement,
    PhotoPreview,
    RegistrationInfo,
    RoiInfo,
    Store,
    VisitInfo,
)


class AccessDenied(PermissionError):
    """The signed-in account may not see or do this."""


@dataclass(frozen=True)
class PatientSummary:
    """A row of the clinician's patient list."""

    code: str
    name: str | None
    birth_date: dt.date | None
    visits: int
    last_visit: dt.date | None


class Access:
    """The store as one account may use it. Every method checks the role first."""

    def __init__(self, store: Store, account: AccountInfo) -> None:
        self.store = store
        self.account = account

    @property
    def role(self) -> str:
        return self.account.role

    @property
    def own_patient(self) -> str | None:
        """The patient code of a patient account, else None."""
        return self.account.patient_code if self.role == "patient" else None

    # ------------------------------------------------------------------ checks
    def _require(self, *roles: str) -> None:
        if self.role not in roles:
            raise AccessDenied(f"a {self.role} account cannot do this; it needs a {' or '.join(roles)} account")

    def _patient(self, patient: int | str) -> PatientInfo:
        """The patient, if this account may see them (missing and forbidden look alike)."""
        if self.role == "clinician":
            return self.store.patient(patient)
        if self.role == "patient":
            try:
                info = self.store.patient(patient)
            except NotFoundError:
                info = None
            if info is None or info.id != self.account.patient_id:
                raise AccessDenied("this account can see only its own record")
            return info
        raise AccessDenied("a researcher account sees de-identified exports only, not patient records")

    # ------------------------------------------------------------------ patients
    def patients(self, search: str = "") -> list[PatientSummary]:
        """Patients whose code or name contains ``search`` (any case), by code."""
        self._require("clinician")
        needle = search.strip().lower()
        out = []
        for p in self.store.patients():
            ident = self.store.identity(p.id)
            name = ident.name if ident else None
            if needle and needle not in p.code.lower() and needle not in (name or "").lower():
                continue
            visits = self.store.visits(p.id)
            out.append(
                PatientSummary(
                    p.code,
                    name,
                    ident.birth_date if ident else None,
                    len(visits),
                    visits[-1].date if visits else None,
                )
            )
        return out

    def patient_codes(self) -> list[str]:
        """Codes of the patients this account may open, by code."""
        if self.own_patient is not None:
            return [self.own_patient]
        self._require("clinician")
        return [p.code for p in self.store.patients()]

    def add_patient(
        self, code: str | None = None, *, name: str | None = None, birth_date: dt.date | None = None
    ) -> PatientInfo:
        self._require("clinician")
        return self.store.add_patient(code, name=name, birth_date=birth_date, user=self.account.username)

    def patient(self, patient: int | str) -> PatientInfo:
        return self._patient(patient)

    # ------------------------------------------------------------------ record
    def visits(self, patient: int | str) -> list[VisitInfo]:
        return self.store.visits(self._patient(patient).id)

    def photos(self, patient: int | str) -> list[PhotoInfo]:
        return self.store.photos(patient=self._patient(patient).id)

    def views(self, patient: int | str) -> list[str]:
        """Views photographed for the patient, in order of first appearance."""
        return list(dict.fromkeys(p.view for p in self.photos(patient)))

    def baseline_photo(self, patient: int | str, view: str) -> PhotoInfo | None:
        """The first photo of ``view`` at the patient's earliest visit with one."""
        return next((p for p in self.photos(patient) if p.view == view), None)

    def timeline(self, patient: int | str, *, view: str | None = None) -> list[MeasurementRow]:
        return self.store.timeline(self._patient(patient).id, view=view)

    def photo(self, photo_id: int) -> PhotoInfo:
        """A photo the account may see (an unknown id and another patient's look alike)."""
        try:
            photo = self.store.photo(photo_id)
        except NotFoundError:
            if self.role == "clinician":
                raise
            photo = None
        self._patient(-1 if photo is None else self.store.visit(photo.visit_id).patient_id)
        return photo

    def original(self, photo_id: int) -> bytes:
        """The original bytes of a photo the account may see."""
        self.photo(photo_id)
        return self.store.read_original(photo_id)

    def pixels(self, photo_id: int) -> np.ndarray:
        """The photo as the analysis sees it: oriented 8-bit RGB."""
        photo = self.photo(photo_id)
        return load_photo(self.store.read_original(photo_id), name=photo.name).pixels

    def overlay(self, photo_id: int) -> np.ndarray:
        """The photo with what its newest measurement counted drawn on it.

        The analysis is run again with the stored ROI and scale, so the picture
        shows exactly what those numbers were made from.
        """
        pixels = self.pixels(photo_id)
        row = self.store.measurements(photo_id)[-1]
        if row.roi_source in ("baseline", "registered"):
            # measured on the ROI's patch cut out on the baseline's grid: carry that mask back
            result = self.store.replay(photo_id)
            mask, groups = patch_mask_in_photo(result, self.store.registration(photo_id), pixels.shape)
            return draw_overlay(pixels, mask, roi=tuple(result.placement["photo_roi"]), groups=groups)
        result = analyze(
            pixels, roi=row.roi, px_per_mm=row.px_per_mm, scale_source=row.scale_source,
            mode=row.mode, polarity=row.parameters.get("polarity"),
        )
        return draw_overlay(pixels, result.mask, roi=result.roi, groups=result.groups)

    def current_roi(self, patient: int | str, view: str) -> RoiInfo | None:
        return self.store.current_roi(self._patient(patient).id, view)

    def registration(self, photo_id: int) -> RegistrationInfo | None:
        """How a photo was aligned to its view's baseline photo (None for a baseline photo)."""
        self.photo(photo_id)
        return self.store.registration(photo_id)

    def placements(self, patient: int | str, view: str) -> list[PhotoPlacement]:
        """Where the view's ROI lands on each of its photos, with the registration behind it."""
        return self.store.placements(self._patient(patient).id, view)

    # ------------------------------------------------------------------ changes
    def add_visit(
        self, patient: int | str, date: dt.date, *, notes: str = "", events: Iterable[str] = ()
    ) -> VisitInfo:
        self._require("clinician")
        return self.store.add_visit(
            patient, date, notes=notes, events=events, user=self.account.username
        )

    def record_visit(
        self,
        patient: int | str,
        date: dt.date,
        photos: Sequence[NewPhoto],
        *,
        notes: str = "",
        events: Iterable[str] = (),
    ) -> tuple[VisitInfo, list[AddedPhoto]]:
        """Add a visit with its photos, all or nothing, in one transaction
        (:meth:`tracker.store.Store.add_visit_with_photos`): no visit without its
        photos is left behind, even if the server stops while they are analysed."""
        self._require("clinician")
        return self.store.add_visit_with_photos(
            self._patient(patient).id, date, photos, notes=notes, events=events, user=self.account.username
        )

    def preview_photo(
        self, patient: int | str, item: NewPhoto, *, batch_first: NewPhoto | None = None, date: dt.date | None = None
    ) -> PhotoPreview:
        self._require("clinician")
        return self.store.preview_photo(self._patient(patient).id, item, batch_first=batch_first, date=date)

    def add_photos(self, visit_id: int, photos: Sequence[NewPhoto]) -> list[AddedPhoto]:
        self._require("clinician")
        return self.store.add_photos(visit_id, photos, user=self.account.username)

    def set_roi(
        self, patient: int | str, view: str, roi: tuple[int, int, int, int], *, baseline_photo_id: int
    ) -> RoiInfo:
        self._require("clinician")
        return self.store.set_roi(
            patient, view, roi, baseline_photo_id=baseline_photo_id, user=self.account.username
        )

    def set_photo_roi(self, photo_id: int, roi: tuple[int, int, int, int]) -> list[int]:
        """Place the ROI by hand on one photo (its own pixels) and measure it again.

        For a photo whose registration to the baseline is weak or failed;
        returns the new measurement's id.
        """
        self._require("clinician")
        self.photo(photo_id)
        self.store.set_photo_roi(photo_id, roi, user=self.account.username)
        return self.store.reanalyse(photo_ids=[photo_id], user=self.account.username)

    def reanalyse(self, patient: int | str, photo_ids: Iterable[int] | None = None) -> list[int]:
        """Measure the patient's photos again (e.g. with a new ROI); older values stay."""
        self._require("clinician")
        return self.store.reanalyse(
            patient=self._patient(patient).id, photo_ids=photo_ids, user=self.account.username
        )

    # ------------------------------------------------------------------ export
    def export_table(self, *, deidentified: bool = True) -> pd.DataFrame:
        """Every patient's measurements with provenance.

        Researchers get the de-identified table only; asking for the identified
        one raises :class:`AccessDenied`.
        """
        from tracker.export import deidentify, export_key, measurement_table

        self._require("clinician", "researcher")
        if not deidentified and self.role != "clinician":
            raise AccessDenied("researchers can export de-identified measurements only")
        table = measurement_table(self.store)
        return deidentify(table, key=export_key(self.store)) if deidentified else table

    # ------------------------------------------------------------------ report
    def report(self, patient: int | str, *, include_name: bool = False) -> bytes:
        """The patient's PDF report (:func:`tracker.report.patient_report`).

        Clinicians, or the patient themself; pseudonymous (code only) unless a
        clinician asks for the name with ``include_name``.
        """
        from tracker.report import patient_report

        self._require("clinician", "patient")
        return patient_report(self, patient, include_name=include_name)
