"""Online look-up of patients this PC does not hold (patients are need-to-know): search the server,
then open one record, which the server audits and sends to this campus's PCs by the feed (a pull or
the running long-poll brings it into the local store). Network calls: run them off the GUI thread."""

from __future__ import annotations

from pydantic import TypeAdapter

from shared.domain.entities import Patient
from shared.sync.transport import ApiTransport, raise_for_answer

_patients = TypeAdapter(list[Patient])


def search_online(transport: ApiTransport, query: str, *, limit: int = 20) -> list[Patient]:
    """Patients matching ``query`` anywhere (by ID number, phone, MRN, last 4 of the ID, name), with the
    fields the user's role may see. Raises the transport's errors (offline: ``TransientError``)."""
    response = transport._call("GET", "/patients/search", params={"q": query, "limit": limit})
    raise_for_answer(response)
    return _patients.validate_json(response.content)


def open_online(transport: ApiTransport, patient_id: str) -> Patient:
    """Open one patient's record on the server (audited); it then reaches this PC by the feed."""
    response = transport._call("GET", f"/patients/{patient_id}")
    raise_for_answer(response)
    return Patient.model_validate_json(response.content)
