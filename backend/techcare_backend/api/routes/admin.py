"""Server administration (admin bearer token): licenses, organisations, their first API keys, audit log."""

from __future__ import annotations

from fastapi import APIRouter, Request

from techcare.i18n import tr

from ... import crud, crud_bindings
from ...core.errors import ApiError
from ...core.licensing import license_cache_key
from ...schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    AuditPublic,
    ErrorPublic,
    LicenseCreate,
    LicenseEventPublic,
    LicenseExtend,
    LicenseIssued,
    LicensePublic,
    OrganisationPublic,
)
from ..deps import (
    AdminDep,
    CtxDep,
    LangDep,
    SessionDep,
    client_ip,
    entitlement_cache_key,
)

router = APIRouter(prefix="/api/admin", tags=["admin"])


def _invalidate(ctx: CtxDep, lic) -> None:  # type: ignore[no-untyped-def]
    ctx.cache.delete(license_cache_key(lic.key_hash), entitlement_cache_key(lic.organisation_id))


_ISSUED_LINKS = {name: {"operationId": f"{op}_api_admin_licenses__license_id_{suffix}",
                        "parameters": {"license_id": "$response.body#/license/id"}}
                 for name, op, suffix in (("GetLicense", "get_license", "_get"),
                                          ("LicenseEvents", "license_events", "_events_get"),
                                          ("ExtendLicense", "extend_license", "_extend_post"),
                                          ("SuspendLicense", "suspend_license", "_suspend_post"),
                                          ("RevokeLicense", "revoke_license", "_revoke_post"))}


@router.post("/licenses", response_model=LicenseIssued, status_code=201,
             responses={409: {"model": ErrorPublic, "description": "expires_at is already past"},
                        201: {"links": _ISSUED_LINKS}})
def issue_license(body: LicenseCreate, admin: AdminDep, session: SessionDep, ctx: CtxDep, request: Request,
                  lang: LangDep) -> LicenseIssued:
    """Issue a license. The key is shown only in this answer; the database keeps a keyed hash."""
    lic, key = crud.create_license(session, data=body, secret=ctx.settings.key_secret_bytes, actor=admin,
                                   default_transfers=ctx.settings.max_transfers, ip=client_ip(request, ctx), lang=lang)
    session.commit()
    _invalidate(ctx, lic)
    return LicenseIssued(license=crud.license_public(session, lic=lic), key=key)


@router.get("/licenses", response_model=list[LicensePublic])
def list_licenses(admin: AdminDep, session: SessionDep, organisation_id: str | None = None) -> list[LicensePublic]:
    return [crud.license_public(session, lic=lic) for lic in crud.list_licenses(session, organisation_id=organisation_id)]


@router.get("/licenses/{license_id}", response_model=LicensePublic)
def get_license(license_id: str, admin: AdminDep, session: SessionDep, lang: LangDep) -> LicensePublic:
    return crud.license_public(session, lic=crud.get_license(session, license_id=license_id, lang=lang))


@router.get("/licenses/{license_id}/events", response_model=list[LicenseEventPublic])
def license_events(license_id: str, admin: AdminDep, session: SessionDep, lang: LangDep) -> list[LicenseEventPublic]:
    crud.get_license(session, license_id=license_id, lang=lang)
    return [LicenseEventPublic.model_validate(e) for e in crud.license_events(session, license_id=license_id)]


def _status_route(action: str):  # type: ignore[no-untyped-def]
    def change(license_id: str, admin: AdminDep, session: SessionDep, ctx: CtxDep, request: Request,
               lang: LangDep) -> LicensePublic:
        lic = crud.change_license_status(session, license_id=license_id, action=action, actor=admin,
                                         ip=client_ip(request, ctx), lang=lang)
        session.commit()  # commit before invalidating, so no instance re-caches the old state
        _invalidate(ctx, lic)
        return crud.license_public(session, lic=lic)

    change.__name__ = f"{action}_license"
    change.__doc__ = f"{action.capitalize()} a license (written to license_events and the audit log)."
    return change


for _action in ("suspend", "reinstate", "revoke"):
    router.add_api_route(f"/licenses/{{license_id}}/{_action}", _status_route(_action), methods=["POST"],
                         response_model=LicensePublic,
                         responses={404: {"model": ErrorPublic}, 409: {"model": ErrorPublic}})


@router.post("/licenses/{license_id}/extend", response_model=LicensePublic,
             responses={404: {"model": ErrorPublic}, 409: {"model": ErrorPublic, "description": "license revoked"}})
def extend_license(license_id: str, body: LicenseExtend, admin: AdminDep, session: SessionDep, ctx: CtxDep,
                   request: Request, lang: LangDep) -> LicensePublic:
    lic = crud.extend_license(session, license_id=license_id, expires_at=body.expires_at, actor=admin,
                              ip=client_ip(request, ctx), lang=lang)
    session.commit()
    _invalidate(ctx, lic)
    return crud.license_public(session, lic=lic)


@router.get("/organisations", response_model=list[OrganisationPublic])
def list_organisations(admin: AdminDep, session: SessionDep) -> list[OrganisationPublic]:
    return [OrganisationPublic.model_validate(o) for o in crud.list_organisations(session)]


@router.post("/organisations/{org_id}/api-keys", response_model=ApiKeyCreated, status_code=201)
def create_org_api_key(org_id: str, body: ApiKeyCreate, admin: AdminDep, session: SessionDep, ctx: CtxDep,
                       request: Request, lang: LangDep) -> ApiKeyCreated:
    """Create an API key for an organisation (its first admin, a technician or a sensor). Shown once."""
    from ...models import Organisation

    if session.get(Organisation, org_id) is None:
        raise ApiError(404, "NOT_FOUND", tr("Organisation {id} gibt es nicht.", "Organisation {id} does not exist.",
                                            lang, id=org_id))
    row, key = crud.create_api_key(session, organisation_id=org_id, name=body.name, role=body.role,
                                   technician_name=body.technician_name, actor=admin, ip=client_ip(request, ctx))
    if body.hostname is not None:  # a sensor key made for one host: bound (pinned) to it at once
        crud_bindings.bind_at_creation(session, organisation_id=org_id, hostname=body.hostname, key_id=row.id,
                                       actor=admin, ip=client_ip(request, ctx))
    session.commit()
    return ApiKeyCreated(id=row.id, key=key, role=body.role, name=row.name, technician_id=row.technician_id,
                         hostname=body.hostname)


@router.get("/audit", response_model=list[AuditPublic])
def audit(admin: AdminDep, session: SessionDep, organisation_id: str | None = None) -> list[AuditPublic]:
    return [AuditPublic.model_validate(a) for a in crud.list_audit(session, organisation_id=organisation_id)]
