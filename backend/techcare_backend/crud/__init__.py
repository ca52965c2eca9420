"""Database operations, one module per area. Every function is keyword-only and takes the session first; routes
stay thin. Everything a tenant can read or write is filtered by ``organisation_id`` here, so tenant isolation does
not depend on each route remembering it.

- :mod:`.audit`     the audit log and organisations
- :mod:`.licenses`  licenses, machines, license events (edition tables from :mod:`techcare.editions`)
- :mod:`.keys`      technicians and API keys
- :mod:`.metrics`   sample ingestion, the hosts' current values, host history (raw or rollups)
- :mod:`.cases`     the shared learning database (stemming in :mod:`..core.textsearch`)

The alert rules live beside the dashboard's queries (:mod:`..dashboard.alerts`); jobs, schedules, tags, bindings,
changelogs and reports keep their own ``crud_*`` modules. The names below are re-exported so ``crud.name`` keeps
working for every caller.
"""

from __future__ import annotations

from .audit import add_audit, get_or_create_organisation, list_audit, list_organisations
from .cases import (
    ACTIONS_KEY_LENGTH,
    CASE_COLUMNS,
    SEARCH_CANDIDATES,
    SEARCH_GIN_LIMIT,
    actions_key,
    case_by_client_id,
    create_case,
    get_case,
    search_cases,
)
from .keys import create_api_key, list_api_keys, list_technicians, principal_for_key, revoke_api_key
from .licenses import (
    LICENSE_FIELDS,
    activate_machine,
    add_license_event,
    change_license_status,
    check_max_machines,
    create_license,
    deactivate_machine,
    extend_license,
    get_license,
    license_entitlements,
    license_events,
    license_public,
    license_state,
    list_licenses,
    organisation_entitlements,
)
from .metrics import (
    PG_INGEST,
    RESOLUTIONS,
    _summary,
    choose_resolution,
    host_exists,
    host_history,
    host_metrics,
    ingest_samples,
    ingest_samples_pg,
    list_hosts,
    pg_ingest_params,
)

__all__ = [
    "ACTIONS_KEY_LENGTH", "CASE_COLUMNS", "LICENSE_FIELDS", "PG_INGEST", "RESOLUTIONS", "SEARCH_CANDIDATES",
    "SEARCH_GIN_LIMIT", "_summary", "actions_key", "activate_machine", "add_audit", "add_license_event", "case_by_client_id",
    "change_license_status", "check_max_machines", "choose_resolution", "create_api_key", "create_case", "create_license",
    "deactivate_machine", "extend_license", "get_case", "get_license", "get_or_create_organisation", "host_exists",
    "host_history", "host_metrics", "ingest_samples", "ingest_samples_pg", "license_entitlements", "license_events",
    "license_public", "license_state", "list_api_keys", "list_audit", "list_hosts", "list_licenses",
    "list_organisations", "list_technicians", "organisation_entitlements", "pg_ingest_params", "principal_for_key",
    "revoke_api_key", "search_cases",
]
