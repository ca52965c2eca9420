"""Cases of the shared learning database: storing (idempotent per client case id) and ranked full-text search."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..core.textsearch import search_terms, term_groups, words
from ..models import Case, CaseStat
from ..schemas import CaseHit
from ._common import dialect_insert


ACTIONS_KEY_LENGTH = 1000  # cases.actions_key, case_stats.actions_key


def actions_key(actions: Iterable[str]) -> str:
    """The set of repair actions as one key (sorted, comma-separated); a set too long for the column is keyed by
    the SHA-256 of that text instead (50 actions of 100 characters would not fit)."""
    key = ",".join(sorted(set(actions)))
    if len(key) <= ACTIONS_KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def case_by_client_id(session: Session, *, organisation_id: str, case_id: str) -> Case | None:
    return session.scalar(select(Case).where(Case.organisation_id == organisation_id, Case.case_id == case_id))


def create_case(session: Session, *, organisation_id: str, data: Any, technician: str | None) -> tuple[Case, bool]:
    """Store a case; returns ``(case, created)``. A ``case_id`` already stored for the organisation (a re-send,
    also a concurrent one) returns the stored case and counts nothing twice in the success statistics."""
    case_id = getattr(data, "case_id", None)
    if case_id is not None:
        if session.get_bind().dialect.name == "sqlite":
            # Take SQLite's write lock before reading (a read transaction that later writes fails with "database
            # is locked" when another writer committed in between; busy_timeout only covers a fresh write lock).
            session.execute(text("UPDATE case_stats SET successes = successes WHERE organisation_id = :org "
                                 "AND actions_key = ''"), {"org": organisation_id})
        existing = case_by_client_id(session, organisation_id=organisation_id, case_id=case_id)
        if existing is not None:
            return existing, False
    key = actions_key(data.actions)
    row = Case(organisation_id=organisation_id, case_id=case_id, symptom=data.symptom, language=data.language,
               os=data.os, findings=data.findings, actions=list(data.actions), actions_key=key, outcome=data.outcome,
               technician=data.technician or technician,
               search_terms=(search_terms(data.symptom, data.findings)
                             if session.get_bind().dialect.name == "sqlite" else None))
    if case_id is None:
        session.add(row)
    else:
        try:
            with session.begin_nested():  # the savepoint begins before the row is added (begin_nested flushes)
                session.add(row)
                session.flush()
        except IntegrityError:  # the same case_id was stored concurrently
            found = case_by_client_id(session, organisation_id=organisation_id, case_id=case_id)
            if found is None:
                raise
            return found, False
    ins = dialect_insert(session, CaseStat).values(organisation_id=organisation_id, actions_key=key,
                                            successes=int(data.outcome == "success"),
                                            failures=int(data.outcome == "failure"))
    table = CaseStat.__table__
    session.execute(ins.on_conflict_do_update(
        index_elements=["organisation_id", "actions_key"],
        set_={"successes": table.c.successes + ins.excluded.successes,
              "failures": table.c.failures + ins.excluded.failures}))
    session.flush()
    return row, True


def get_case(session: Session, *, organisation_id: str, case_id: int) -> Case | None:
    return session.scalar(select(Case).where(Case.id == case_id, Case.organisation_id == organisation_id))


def _fts_query(groups: list[set[str]], joiner: str) -> str:
    return f" {joiner} ".join("(" + " OR ".join(f'"{t}"' for t in sorted(g)) + ")" for g in groups)


def _pg_query(ws: list[str], joiner: str) -> str:
    return f" {joiner} ".join(ws)


# Bounded work per query on millions of cases (PostgreSQL): the GIN scan hands over at most ~SEARCH_GIN_LIMIT
# matches (``gin_fuzzy_search_limit``: a random subset once a query matches more, instead of a bitmap of every
# match), of which at most SEARCH_CANDIDATES are ranked. A query with fewer matches is exact.
SEARCH_CANDIDATES = 500
SEARCH_GIN_LIMIT = 5000
CASE_COLUMNS = "c.id, c.case_id, c.symptom, c.language, c.os, c.findings, c.actions, c.actions_key, c.outcome, " \
               "c.technician, c.created_at"


def search_cases(session: Session, *, organisation_id: str, q: str, os_name: str | None, limit: int) -> list[CaseHit]:
    """Full-text search (German + English stemming), ranked by relevance and by how often the repair worked.

    All words must match first; when nothing matches, any word may. The best ``5 * limit`` by text relevance
    are re-ranked with the success rate of their set of repair actions (Laplace-smoothed).
    """
    pool = min(max(limit * 5, 20), 250)
    dialect = session.get_bind().dialect.name
    rows: list[Any] = []
    if dialect == "postgresql":
        ws = [w for w in words(q, 20)]
        session.execute(text(f"SET LOCAL gin_fuzzy_search_limit = {int(SEARCH_GIN_LIMIT)}"))
        for joiner in ("&", "|"):
            if not ws:
                break
            # Ranking every match of a very common word costs a heap fetch per match; at most SEARCH_CANDIDATES
            # matches (from the GIN bitmap) are ranked, which bounds the latency on millions of cases.
            sql = (f"SELECT {CASE_COLUMNS}, ts_rank_cd(c.search_vector, qq.query) AS relevance "
                   "FROM (SELECT to_tsquery('german', :qd) || to_tsquery('english', :qd) AS query) qq, "
                   "LATERAL (SELECT * FROM cases WHERE organisation_id = :org AND search_vector @@ qq.query "
                   + ("AND os = :os " if os_name else "") + "LIMIT :cap) c ORDER BY relevance DESC LIMIT :pool")
            rows = session.execute(text(sql), {"qd": _pg_query(ws, joiner), "org": organisation_id,
                                               "os": os_name, "pool": pool, "cap": SEARCH_CANDIDATES}).mappings().all()
            if rows:
                break
    else:
        groups = term_groups(q, 20)
        for joiner in ("AND", "OR"):
            if not groups:
                break
            sql = (f"SELECT {CASE_COLUMNS}, -bm25(cases_fts) AS relevance FROM cases_fts "
                   "JOIN cases c ON c.id = cases_fts.rowid WHERE cases_fts MATCH :m AND c.organisation_id = :org "
                   + ("AND c.os = :os " if os_name else "") + "ORDER BY bm25(cases_fts) LIMIT :pool")
            rows = session.execute(text(sql), {"m": _fts_query(groups, joiner), "org": organisation_id,
                                               "os": os_name, "pool": pool}).mappings().all()
            if rows:
                break
    if not rows:
        return []
    keys = {r["actions_key"] for r in rows}
    stats = {s.actions_key: (s.successes, s.failures) for s in session.scalars(
        select(CaseStat).where(CaseStat.organisation_id == organisation_id, CaseStat.actions_key.in_(keys)))}
    top = max(float(r["relevance"]) for r in rows) or 1.0
    hits = []
    for r in rows:
        ok, bad = stats.get(r["actions_key"], (0, 0))
        smoothed = (ok + 1) / (ok + bad + 2)
        relevance = float(r["relevance"]) / top
        findings, actions = r["findings"], r["actions"]
        if isinstance(findings, str):
            findings, actions = json.loads(findings), json.loads(actions)
        created = r["created_at"]
        if isinstance(created, str):
            created = datetime.fromisoformat(created)
        if created.tzinfo is None:
            created = created.replace(tzinfo=timezone.utc)
        hits.append(CaseHit(id=r["id"], case_id=r["case_id"], symptom=r["symptom"], language=r["language"], os=r["os"], findings=findings,
                            actions=actions, outcome=r["outcome"], technician=r["technician"], created_at=created,
                            relevance=round(relevance, 4), success_rate=round(ok / (ok + bad), 4) if ok + bad else 0.0,
                            times_tried=ok + bad, score=round(relevance * (0.5 + smoothed), 4)))
    hits.sort(key=lambda h: (-h.score, -h.id))
    return hits[:limit]
