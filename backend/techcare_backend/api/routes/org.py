"""The caller's organisation: who am I, API keys, technicians, audit log."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from techcare.i18n import tr

from ... import crud, crud_bindings
from ...core.errors import ApiError
from ...models import Organisation
from ...schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    AuditPublic,
    ErrorPublic,
    MePublic,
    OrganisationPublic,
    TechnicianPublic,
)
from ..deps import (
    CtxDep,
    LangDep,
    OrgAdminDep,
    PrincipalDep,
    SessionDep,
    auth_cache_key,
    client_ip,
    org_entitlements,
)

router = APIRouter(prefix="/api", tags=["organisation"])


@router.get("/me", response_model=MePublic)
def me(principal: PrincipalDep, session: SessionDep, ctx: CtxDep) -> MePublic:
    org = session.get(Organisation, principal.organisation_id)
    ent = org_entitlements(ctx, principal.organisation_id)
    return MePublic(organisation=OrganisationPublic.model_validate(org), key_id=principal.key_id,
                    role=principal.role, technician=principal.technician, edition=ent["edition"],  # type: ignore
                    entitlements=ent["entitlements"])


@router.post("/keys", response_model=ApiKeyCreated, status_code=201, responses={
    403: {"model": ErrorPublic},
    201: {"links": {"RevokeKey": {"operationId": "revoke_key_api_keys__key_id__delete",
                                  "parameters": {"key_id": "$response.body#/id"}}}}})
def create_key(body: ApiKeyCreate, principal: OrgAdminDep, session: SessionDep, ctx: CtxDep, request: Request,
               lang: LangDep) -> ApiKeyCreated:
    """An organisation admin creates a key. Sensor keys: any edition; keys for more technicians: team features
    (Enterprise). The key is shown only in this answer."""
    if body.role != "sensor":
        target = body.technician_name or body.name
        if target != principal.technician and "team_features" not in org_entitlements(
                ctx, principal.organisation_id)["entitlements"]:
            raise ApiError(403, "ENTITLEMENTS_MISSING", tr(
                "Weitere Techniker brauchen Team-Features (Enterprise).",
                "More technicians need team features (Enterprise).", lang))
    row, key = crud.create_api_key(session, organisation_id=principal.organisation_id, name=body.name,
                                   role=body.role, technician_name=body.technician_name, actor=principal.actor,
                                   ip=client_ip(request, ctx))
    if body.hostname is not None:  # a sensor key made for one host: bound (pinned) to it at once
        crud_bindings.bind_at_creation(session, organisation_id=principal.organisation_id, hostname=body.hostname,
                                       key_id=row.id, actor=principal.actor, ip=client_ip(request, ctx))
    session.commit()
    return ApiKeyCreated(id=row.id, key=key, role=body.role, name=row.name, technician_id=row.technician_id,
                         hostname=body.hostname)


@router.get("/keys", response_model=list[ApiKeyPublic])
def list_keys(principal: OrgAdminDep, session: SessionDep) -> list[ApiKeyPublic]:
    return [ApiKeyPublic.model_validate(k) for k in crud.list_api_keys(session,
                                                                        organisation_id=principal.organisation_id)]


@router.delete("/keys/{key_id}", status_code=204, responses={404: {"model": ErrorPublic}})
def revoke_key(key_id: str, principal: PrincipalDep, session: SessionDep, ctx: CtxDep, request: Request,
               lang: LangDep) -> Response:
    """Revoke a key: organisation admins any key of their organisation, everyone else only their own."""
    if principal.role != "admin" and key_id != principal.key_id:
        raise ApiError(403, "FORBIDDEN", tr("Nur Administratoren dürfen fremde Schlüssel widerrufen.",
                                            "Only administrators may revoke other keys.", lang))
    row = crud.revoke_api_key(session, organisation_id=principal.organisation_id, key_id=key_id,
                              actor=principal.actor, ip=client_ip(request, ctx), lang=lang)
    session.commit()
    ctx.cache.delete(auth_cache_key(row.key_hash))
    return Response(status_code=204)


@router.get("/technicians", response_model=list[TechnicianPublic])
def technicians(principal: OrgAdminDep, session: SessionDep) -> list[TechnicianPublic]:
    return [TechnicianPublic.model_validate(t) for t in crud.list_technicians(
        session, organisation_id=principal.organisation_id)]


@router.get("/audit", response_model=list[AuditPublic])
def audit(principal: OrgAdminDep, session: SessionDep) -> list[AuditPublic]:
    return [AuditPublic.model_validate(a) for a in crud.list_audit(session, organisation_id=principal.organisation_id)]
