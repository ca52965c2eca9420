"""Shared learning database (Enterprise): record repair cases and search them in German and English."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import JSONResponse

from techcare.i18n import tr

from ... import crud
from ...core.errors import ApiError
from ...schemas import MAX_EXACT_INT, CaseCreate, CaseHit, CasePublic, ErrorPublic, OsName
from ..deps import LangDep, Principal, SessionDep, requires

router = APIRouter(prefix="/api/cases", tags=["cases"])
LearningDep = Annotated[Principal, Depends(requires("shared_learning_db"))]


def _public(row) -> CasePublic:  # type: ignore[no-untyped-def]
    return CasePublic(id=row.id, case_id=row.case_id, symptom=row.symptom, language=row.language, os=row.os, findings=row.findings,
                      actions=row.actions, outcome=row.outcome, technician=row.technician, created_at=row.created_at)


@router.post("", response_model=CasePublic, status_code=201,
             responses={200: {"model": CasePublic, "description": "a case with this case_id was already stored"},
                        201: {"links": {"GetCase": {"operationId": "get_case_api_cases__id__get",
                                                    "parameters": {"id": "$response.body#/id"}}}},
                        403: {"model": ErrorPublic}})
def create_case(body: CaseCreate, principal: LearningDep, session: SessionDep, lang: LangDep,
                response: Response) -> CasePublic:
    """Record a case. With a client ``case_id`` re-sending is idempotent: 200 and the stored case."""
    if principal.role == "sensor":
        raise ApiError(403, "FORBIDDEN", tr("Sensor-Schlüssel dürfen keine Fälle anlegen.",
                                            "Sensor keys may not record cases.", lang))
    row, created = crud.create_case(session, organisation_id=principal.organisation_id, data=body,
                                    technician=principal.technician)
    session.commit()
    if not created:
        response.status_code = 200
    return _public(row)


@router.get("/search", response_model=list[CaseHit], responses={403: {"model": ErrorPublic}})
def search(principal: LearningDep, session: SessionDep, q: Annotated[str, Query(min_length=1, max_length=500)],
           os: OsName | None = None, limit: Annotated[int, Query(ge=1, le=50)] = 10) -> JSONResponse:
    """Full-text search over symptoms and findings (German and English stemming), best first: relevance
    weighted by how often the case's repair actions worked."""
    hits = crud.search_cases(session, organisation_id=principal.organisation_id, q=q, os_name=os, limit=limit)
    return JSONResponse([h.model_dump(mode="json") for h in hits])  # built here: not re-validated


@router.get("/{id}", response_model=CasePublic, responses={404: {"model": ErrorPublic}})
def get_case(case_id: Annotated[int, Path(alias="id", ge=1, le=MAX_EXACT_INT, description="the case's `id` (not "
                                                                                         "the client's case_id)")],
             principal: LearningDep, session: SessionDep, lang: LangDep) -> CasePublic:
    """One case of the organisation by its server-assigned ``id``."""
    row = crud.get_case(session, organisation_id=principal.organisation_id, case_id=case_id)
    if row is None:
        raise ApiError(404, "NOT_FOUND", tr("Fall {id} gibt es nicht.", "Case {id} does not exist.", lang, id=case_id))
    return _public(row)
