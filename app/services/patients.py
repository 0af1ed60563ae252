"""The unit's census and temporary (downtime) patients, and linking them to real records later."""

from __future__ import annotations

import difflib
import json
from datetime import timedelta
from pathlib import Path

from app.store import read_models
from app.store.store import Store
from sync.clock import iso, parse_rfc3339, seconds_since

from . import access
from .errors import InputError

DEFAULT_DOWNTIME_PREFIX = "DT"


def import_census(store: Store, patients: list[dict], *, as_of: str | None = None,
                  source: str = "census") -> int:
    """Load a census snapshot (a list of patients) as one ``census.loaded`` event; returns the count."""
    access.require_census_keeper(store)
    if not isinstance(patients, list) or not patients:
        raise InputError("A census must be a non-empty JSON list of patients.")
    for i, p in enumerate(patients):
        if not isinstance(p, dict) or not p.get("patient_id") or not p.get("family") or not p.get("given"):
            raise InputError(f"Census entry {i + 1} needs patient_id, family and given names.")
    store.record("census.loaded", {"as_of": census_time(store, as_of), "source": source,
                                   "patients": patients})
    return len(patients)


def census_time(store: Store, as_of: str | None) -> str:
    """The snapshot's time as UTC text: now if not given; a time without a zone or in the future is refused.

    Per patient the newest snapshot wins on every workstation (projections.census_order), so a
    wrong zone or a future time would hide the real newest one.
    """
    if as_of is None:
        return store.clock.now_iso()
    try:
        when = parse_rfc3339(as_of)
    except ValueError:
        raise InputError(f"The census time {as_of!r} must be a date and time with its zone, in ASCII digits, "
                         f"e.g. 2026-11-25T03:40:00Z.") from None
    if when > store.clock.now() + timedelta(minutes=5):
        raise InputError(f"The census time {as_of} is in the future; give the time the census was taken.")
    return iso(when)


def load_census_file(store: Store, path: Path) -> int:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"No census file at {path}.") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"{path} is not a JSON census: {err}") from None
    if isinstance(data, dict):
        return import_census(store, data.get("patients"), as_of=data.get("as_of"))
    return import_census(store, data)


def census_age_seconds(store: Store) -> float | None:
    taken = read_models.census_as_of(store)
    if not taken:
        return None
    return seconds_since(taken, store.clock.now())


def search_patients(store: Store, text: str = "", limit: int = 50) -> list[dict]:
    """Patients whose name, MRN, id or location contains ``text`` (case-insensitive)."""
    return read_models.patients_matching(store, text, limit)


def view_patient_search(store: Store, text: str = "", limit: int = 50) -> list[dict]:
    """``search_patients`` for a person's eyes (CLI or app): the search is recorded as a view."""
    rows = search_patients(store, text, limit)
    access.record_view(store, access.VIEW_PATIENT_SEARCH, count=len(rows))
    return rows


def similar_patients(store: Store, family: str, given: str, birth_date: str | None = None) -> list[dict]:
    """Census patients whose name is close to this one: the warning shown before a temporary registration."""
    target = f"{family} {given}".lower()
    found = []
    for p in read_models.all_patients(store):
        score = difflib.SequenceMatcher(None, target, f"{p['family']} {p['given']}".lower()).ratio()
        if score >= 0.8 or (birth_date and p["birth_date"] == birth_date and
                            p["family"].lower() == family.lower()):
            found.append({**p, "similarity": round(score, 2)})
    return sorted(found, key=lambda p: -p["similarity"])


def next_downtime_id(store: Store) -> str:
    """The next identifier from this workstation's pre-allocated downtime range."""
    # The device's own short code keeps two workstations of one unit from issuing the same id.
    prefix = store.settings.get("downtime_id_prefix") or \
        f"{DEFAULT_DOWNTIME_PREFIX}-{store.unit_id}-{store.device_id[-4:].upper()}-"
    start = int(store.settings.get("downtime_id_start", 1))
    end = int(store.settings.get("downtime_id_end", 9999))
    used = read_models.temporary_ids_issued(store, prefix)
    number = start + used
    if number > end:
        raise InputError("This workstation has used its whole range of downtime identifiers; "
                         "ask IT for a new range or use paper identity bands.")
    return f"{prefix}{number:04d}"


def register_temp_patient(store: Store, family: str, given: str, *, birth_date: str | None = None,
                          sex: str = "unknown", location: str | None = None,
                          confirm_not_duplicate: bool = False) -> tuple[str, list[dict]]:
    """Register a patient not on the census under a downtime identifier.

    If similar names are on the census and ``confirm_not_duplicate`` is false, nothing is recorded
    and InputError names them; returns (patient_id, similar patients) once recorded.
    """
    family, given = (family or "").strip(), (given or "").strip()
    if not family or not given:
        raise InputError("A temporary patient needs a family name and a given name "
                         "(use 'Unknown' with a descriptor if they are not known).")
    similar = similar_patients(store, family, given, birth_date)
    if similar and not confirm_not_duplicate:
        names = ", ".join(f"{p['family']}, {p['given']} ({p['patient_id']})" for p in similar[:3])
        raise InputError(f"Similar patients are already on the census: {names}. Check identity; "
                         f"register anyway only if this is a different person.")
    patient_id = next_downtime_id(store)
    store.record("patient.temp_registered", {
        "patient": {"patient_id": patient_id, "family": family, "given": given, "birth_date": birth_date,
                    "sex": sex, "location": location, "mrn": None},
        "similar_to": [p["patient_id"] for p in similar]})
    return patient_id, similar


def link_temp_patient(store: Store, temp_patient_id: str, patient_id: str, reason: str | None = None) -> str:
    """After recovery, a super-user links a temporary patient to their real record."""
    access.require_supervisor(store)
    temp = read_models.patient(store, temp_patient_id)
    if not temp or not temp["temporary"]:
        raise InputError(f"{temp_patient_id} is not a temporary patient on this workstation.")
    if not patient_id.strip():
        raise InputError("Give the patient's real identifier to link to.")
    return store.record("patient.linked", {"temp_patient_id": temp_patient_id, "patient_id": patient_id,
                                           "reason": reason}).event_id
