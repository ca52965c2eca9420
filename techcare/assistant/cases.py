"""Learning from past cases: what was the symptom, what was done, did it work.

After a plan runs, a case (symptom text, language, OS, findings, actions, outcome) is stored locally
(SQLite under ``get_settings().cases_dir``) and — with the Enterprise entitlement ``shared_learning_db`` — in the
team's shared learning database:

- ``LEARNING_DB_URL=postgresql+psycopg://...`` or ``mysql+pymysql://...`` (MariaDB): the same SQLAlchemy store,
  directly on the team database (what the setup wizard offers for Enterprise);
- ``LEARNING_DB_URL=https://...`` or, without it, ``BACKEND_URL`` + ``TECHCARE_API_KEY``: the backend API
  (``POST /api/cases``, ``GET /api/cases/search``).

Similarity is language-independent where it matters: every case stores the offline triage categories of its
symptom, so "kein Internet" and "no internet" meet in ``network``; word overlap (TF-IDF cosine) refines it.
:func:`action_scores` turns similar cases into evidence per repair action: one that worked on similar symptoms
scores up, one that failed scores down. :func:`rank_actions` orders a proposal by it without breaking the order
the repairs need; the Claude engine is given the same evidence as text.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AssistantError
from ..i18n import get_language, tr
from .text import tokens
from ._triage import triage

if TYPE_CHECKING:  # pragma: no cover
    import httpx
    import pandas as pd
    from sqlalchemy.engine import Engine

    from ..repairs import Plan, RunResult

__all__ = ["COLUMNS", "BackendCaseStore", "CaseStore", "LearningStore", "SQLCaseStore", "action_scores", "get_store",
           "evidence_text", "rank_actions", "record", "record_run", "reset_store", "search"]

log = logging.getLogger(__name__)

OUTCOMES = ("success", "failure")
_ATTEMPTED = ("finished", "failed", "undone", "undo_failed")
OSES = ("windows", "linux", "darwin")
COLUMNS = ["id", "created_at", "symptom", "language", "os", "actions", "outcome", "technician", "score",
           "success_rate", "source"]
MIN_SCORE = 0.2
_CANDIDATES = 5000
_STOP = frozenset(["der", "die", "das", "ein", "eine", "einen", "und", "oder", "aber", "nicht", "mehr", "ist", "sind", "war", "hat", "haben", "mit", "von", "bei", "auf", "im", "in", "am", "an", "zu", "zum", "zur", "den", "dem", "des", "es", "er", "sie", "wir", "ich", "du", "man", "seit", "noch", "schon", "nur", "auch", "sehr", "immer", "wieder", "dann", "wenn", "weil", "bitte", "mal", "jetzt", "heute", "the", "a", "an", "and", "or", "but", "not", "is", "are", "was", "has", "have", "with", "from", "at", "on", "in", "to", "of", "it", "he", "she", "we", "i", "you", "my", "this", "that", "since", "still", "already", "only", "also", "very", "always", "again", "then", "when", "because", "please", "now", "today", "pc", "rechner", "computer", "laptop", "kunde", "customer"])


# ---- similarity ------------------------------------------------------------------------------------------------

def _words(text: str) -> list[str]:
    out = []
    for tok in tokens(text):
        if tok in _STOP or len(tok) < 2:
            continue
        for suffix in ("ungen", "ung", "en", "er", "es", "e", "s"):  # light stemming for both languages
            if len(tok) > len(suffix) + 3 and tok.endswith(suffix):
                tok = tok[: -len(suffix)]
                break
        out.append(tok)
    return out


def _categories(text: str) -> dict[str, float]:
    return dict(triage(text)[:3])


def _cosine(a: Counter[str], b: Counter[str], idf: dict[str, float]) -> float:
    dot = sum(a[w] * b[w] * idf.get(w, 1.0) ** 2 for w in a.keys() & b.keys())
    if not dot:
        return 0.0
    na = math.sqrt(sum((c * idf.get(w, 1.0)) ** 2 for w, c in a.items()))
    nb = math.sqrt(sum((c * idf.get(w, 1.0)) ** 2 for w, c in b.items()))
    return dot / (na * nb) if na and nb else 0.0


def _category_overlap(a: dict[str, float], b: dict[str, float]) -> float:
    if not a or not b:
        return 0.0
    shared = sum(min(a[c], b[c]) for c in a.keys() & b.keys())
    return min(1.0, shared / max(1e-9, min(sum(a.values()), sum(b.values()))))


def similarity_scores(text: str, rows: list[dict[str, Any]]) -> list[float]:
    """Similarity (0..1) of ``text`` to each case row: 60 % shared triage categories, 40 % TF-IDF word cosine."""
    query_words = Counter(_words(text))
    query_cats = _categories(text)
    docs = [Counter(_words(r.get("symptom") or "")) for r in rows]
    n = len(docs) + 1
    df: Counter[str] = Counter()
    for doc in [*docs, query_words]:
        df.update(doc.keys())
    idf = {w: math.log((n + 1) / (c + 0.5)) for w, c in df.items()}
    out = []
    for row, doc in zip(rows, docs):
        cats = row.get("categories")
        if isinstance(cats, str):
            try:
                cats = json.loads(cats)
            except ValueError:
                cats = None
        if not isinstance(cats, dict):
            cats = _categories(row.get("symptom") or "")
        out.append(round(0.6 * _category_overlap(query_cats, cats) + 0.4 * _cosine(query_words, doc, idf), 4))
    return out


# ---- validation ------------------------------------------------------------------------------------------------

def _validate(symptom: Any, language: Any, os_name: Any, outcome: Any, actions: Any) -> None:
    problems = []
    if not isinstance(symptom, str) or not symptom.strip():
        problems.append(tr("symptom muss ein nicht leerer Text sein", "symptom must be non-empty text"))
    if language not in ("de", "en"):
        problems.append(tr("language={v!r} – erlaubt: de | en", "language={v!r} – allowed: de | en", v=language))
    if os_name not in OSES:
        problems.append(tr("os={v!r} – erlaubt: windows | linux | darwin", "os={v!r} – allowed: windows | linux | darwin",
                           v=os_name))
    if outcome not in OUTCOMES:
        problems.append(tr("outcome={v!r} – erlaubt: success | failure", "outcome={v!r} – allowed: success | failure",
                           v=outcome))
    if not isinstance(actions, (list, tuple)) or not all(isinstance(a, str) and a for a in actions):
        problems.append(tr("actions muss eine Liste von Aktions-IDs sein", "actions must be a list of action ids"))
    if problems:
        raise AssistantError(tr("Fall ungültig: ", "Invalid case: ") + "; ".join(problems) + ".")


# ---- stores ----------------------------------------------------------------------------------------------------

class CaseStore:
    """Interface of a case store."""

    kind = "abstract"

    def add(self, case: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover - interface
        raise NotImplementedError

    def search(self, text: str, *, os: str | None = None, limit: int = 10) -> list[dict[str, Any]]:  # pragma: no cover
        raise NotImplementedError


def _table(metadata: Any) -> Any:
    from sqlalchemy import JSON, Column, DateTime, Index, String, Table, Text

    return Table(
        "techcare_cases", metadata,
        Column("id", String(36), primary_key=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("symptom", Text, nullable=False),
        Column("language", String(2), nullable=False),
        Column("os", String(16), nullable=False),
        Column("findings", JSON, nullable=False),
        Column("actions", JSON, nullable=False),
        Column("outcome", String(16), nullable=False),
        Column("technician", String(200), nullable=True),
        Column("plan_id", String(80), nullable=True),
        Column("categories", JSON, nullable=False),
        Index("ix_techcare_cases_os_created", "os", "created_at"),
    )


class SQLCaseStore(CaseStore):
    """Cases in any SQLAlchemy database: SQLite (default), PostgreSQL (psycopg) or MySQL/MariaDB (PyMySQL)."""

    kind = "sql"

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        try:
            from sqlalchemy import MetaData, create_engine
            from sqlalchemy.exc import SQLAlchemyError
        except ImportError:
            raise AssistantError(tr("Für die Fall-Datenbank fehlt das Paket sqlalchemy.",
                                    "The case database needs the sqlalchemy package."),
                                 hint="pip install 'sqlalchemy>=2.0'") from None
        self.url = url
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = engine or create_engine(url, pool_pre_ping=True)
            self.metadata = MetaData()
            self.table = _table(self.metadata)
            self.metadata.create_all(self.engine, checkfirst=True)
        except ImportError as exc:  # the database driver of the URL is not installed
            driver = {"postgresql": "psycopg[binary]", "mysql": "pymysql", "mariadb": "pymysql"}.get(
                url.split(":", 1)[0].split("+", 1)[0], getattr(exc, "name", "") or "")
            raise AssistantError(tr("Datenbanktreiber für {u} fehlt: {e}", "Database driver for {u} is missing: {e}",
                                    u=_safe_url(url), e=_short(exc)), hint=f"pip install '{driver}'") from None
        except SQLAlchemyError as exc:
            raise AssistantError(tr("Fall-Datenbank {u} nicht erreichbar: {e}", "Case database {u} not reachable: {e}",
                                    u=_safe_url(url), e=_short(exc))) from None

    def add(self, case: dict[str, Any]) -> dict[str, Any]:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.engine.begin() as conn:
                conn.execute(self.table.insert().values(**case))
        except SQLAlchemyError as exc:
            raise AssistantError(tr("Fall konnte nicht gespeichert werden ({u}): {e}", "Could not store the case ({u}): {e}",
                                    u=_safe_url(self.url), e=_short(exc))) from None
        return case

    def rows(self, *, os: str | None = None, limit: int = _CANDIDATES) -> list[dict[str, Any]]:
        from sqlalchemy import select
        from sqlalchemy.exc import SQLAlchemyError

        query = select(self.table).order_by(self.table.c.created_at.desc()).limit(limit)
        if os:
            query = query.where(self.table.c.os == os)
        try:
            with self.engine.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(query)]
        except SQLAlchemyError as exc:
            raise AssistantError(tr("Fälle nicht lesbar ({u}): {e}", "Cases not readable ({u}): {e}",
                                    u=_safe_url(self.url), e=_short(exc))) from None

    def search(self, text: str, *, os: str | None = None, limit: int = 10) -> list[dict[str, Any]]:
        rows = self.rows(os=os)
        scores = similarity_scores(text, rows)
        hits = []
        for row, score in zip(rows, scores):
            if score >= MIN_SCORE:
                row = dict(row)
                row["score"] = score
                row["source"] = "local" if self.url.startswith("sqlite") else "shared"
                hits.append(row)
        hits.sort(key=lambda r: (-r["score"], str(r["created_at"])))
        return hits[: max(limit, 50)]

    def dispose(self) -> None:
        self.engine.dispose()


class BackendCaseStore(CaseStore):
    """The team's learning database behind the TechCare backend (``/api/cases``), via :class:`BackendClient`.

    Backend hits are re-scored with the same symptom similarity as local cases, so evidence from both stores
    weighs alike; the backend's own ``success_rate`` is kept.
    """

    kind = "backend"

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *, client: Any = None,
                 http_client: httpx.Client | None = None, retries: int = 1, timeout: float = 10.0) -> None:
        from ..backend_client import BackendClient

        self.client = client or BackendClient(base_url, api_key, client=http_client, retries=retries, timeout=timeout)
        self.base_url = getattr(self.client, "base_url", base_url)

    def add(self, case: dict[str, Any]) -> dict[str, Any]:
        body = {"symptom": case["symptom"], "language": case["language"], "os": case["os"],
                "findings": case["findings"], "actions": case["actions"], "outcome": case["outcome"]}
        if case.get("id"):
            # the local uuid: the backend stores it as case_id (a re-send returns the stored case) and returns it
            # in searches, so the same case from both stores is shown once
            body["case_id"] = str(case["id"])
        if case.get("technician"):
            body["technician"] = case["technician"]
        return self.client.create_case(body)

    def search(self, text: str, *, os: str | None = None, limit: int = 10) -> list[dict[str, Any]]:
        rows = self.client.search_cases(text[:500], os=os, limit=min(50, max(limit, 20)))
        rows = [dict(r) for r in rows] if isinstance(rows, list) else []
        out = []
        for row, score in zip(rows, similarity_scores(text, rows)):
            if score >= MIN_SCORE:
                row["backend_score"] = row.get("score")
                row["score"] = score
                row["source"] = "shared"
                out.append(row)
        out.sort(key=lambda r: -float(r["score"]))
        return out[:limit]


def _case_key(row: dict[str, Any]) -> str | None:
    """The identity of a case across stores: the client-generated id (``case_id`` from the backend, else ``id``)."""
    key = row.get("case_id") or row.get("id")
    return None if key is None else str(key)


class LearningStore:
    """The local store, plus the shared one when the edition and configuration allow it."""

    def __init__(self, local: CaseStore, shared: CaseStore | None = None) -> None:
        self.local = local
        self.shared = shared

    def add(self, case: dict[str, Any]) -> dict[str, Any]:
        self.local.add(case)
        result = {"id": case["id"], "local": True, "shared": None}
        if self.shared is not None:
            try:
                self.shared.add(dict(case))
                result["shared"] = True
            except Exception as exc:  # noqa: BLE001 - the local copy is kept; report, don't fail the repair
                log.warning("shared learning database: %s", exc)
                result["shared"] = False
                result["shared_error"] = str(exc)
        return result

    def search(self, text: str, *, os: str | None = None, limit: int = 10) -> list[dict[str, Any]]:
        rows = self.local.search(text, os=os, limit=limit)
        if self.shared is not None:
            try:
                # A case recorded here and in the team store comes back from both: the backend returns the
                # client's uuid as ``case_id`` (a shared SQL store keeps the uuid as ``id``). Keep the first copy.
                seen = {_case_key(r) for r in rows}
                for r in self.shared.search(text, os=os, limit=limit):
                    key = _case_key(r)
                    if key is None or key not in seen:
                        rows.append(r)
                        if key is not None:
                            seen.add(key)
            except Exception as exc:  # noqa: BLE001 - offline team database: local cases still help
                log.warning("shared learning database search failed: %s", exc)
        rows.sort(key=lambda r: -float(r.get("score") or 0.0))
        return rows


_lock = threading.Lock()
_stores: dict[tuple[str, ...], LearningStore] = {}


def _shared_store(settings: Any) -> CaseStore | None:
    from .. import features

    if not features.allowed("shared_learning_db"):
        return None
    url = settings.learning_db_url
    if url and not url.startswith(("http://", "https://")):
        return SQLCaseStore(url)
    base = url or settings.backend_url
    if base and settings.techcare_api_key:
        return BackendCaseStore(base, settings.techcare_api_key)
    return None


def get_store() -> LearningStore:
    """The store for the current settings and edition (cached per configuration)."""
    from .. import features
    from ..config import get_settings

    settings = get_settings()
    shared_allowed = features.allowed("shared_learning_db")
    key = (str(settings.cases_dir), settings.learning_db_url or "", settings.backend_url or "",
           settings.techcare_api_key or "", str(shared_allowed))
    with _lock:
        store = _stores.get(key)
        if store is None:
            local = SQLCaseStore(f"sqlite:///{(settings.cases_dir / 'cases.db').resolve()}")
            try:
                shared = _shared_store(settings)
            except AssistantError as exc:
                log.warning("%s", exc)
                shared = None
            store = _stores[key] = LearningStore(local, shared)
        return store


def reset_store() -> None:
    """Forget cached stores (after the settings changed)."""
    with _lock:
        for store in _stores.values():
            for part in (store.local, store.shared):
                if isinstance(part, SQLCaseStore):
                    part.dispose()
        _stores.clear()


# ---- public functions ------------------------------------------------------------------------------------------

def _findings_list(findings: Any) -> list[dict[str, Any]]:
    """Findings as a case keeps them: check, severity and the English summary (when known). Takes
    :class:`~techcare.diagnosis.Finding` objects or their dict form (``Finding.to_dict()``, ``Plan.findings``)."""
    from ..diagnosis import Finding

    out = []
    for index, f in enumerate(findings or [], 1):
        d = f.to_dict() if isinstance(f, Finding) else f
        if not isinstance(d, dict) or not isinstance(d.get("check"), str):
            raise AssistantError(tr("Befund {n} ist kein Befund (erwartet: Finding oder {{\"check\": …, \"severity\": …}}).",
                                    "Finding {n} is not a finding (expected a Finding or {{\"check\": …, "
                                    "\"severity\": …}}).", n=index))
        item = {"check": d["check"], "severity": d.get("severity")}
        if d.get("summary_en"):
            item["summary"] = d["summary_en"]
        out.append(item)
    return out


def record(symptom: str, *, actions: list[str], outcome: str, os: str | None = None, language: str | None = None,
           findings: Any = (), technician: str | None = None, plan_id: str | None = None,
           store: LearningStore | CaseStore | None = None) -> dict[str, Any]:
    """Store a case; returns ``{"id", "local", "shared", ...}``. Raises :class:`AssistantError` for bad values."""
    from ..config import get_settings
    from ..system.runner import current_platform

    os_name = os or current_platform()
    lang = language or get_language()
    _validate(symptom, lang, os_name, outcome, actions)
    settings = get_settings()
    case = {"id": str(uuid.uuid4()), "created_at": datetime.now(UTC), "symptom": symptom.strip()[:4000],
            "language": lang, "os": os_name, "findings": _findings_list(findings), "actions": list(actions),
            "outcome": outcome, "technician": technician or settings.technician_name or None, "plan_id": plan_id,
            "categories": _categories(symptom)}
    target = store or get_store()
    result = target.add(case)
    return result if isinstance(result, dict) and "local" in result else {"id": case["id"], "local": True, "shared": None}


def _success_rates(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    stats: dict[str, dict[str, float]] = {}
    for row in rows:
        weight = float(row.get("score") or 0.0)
        actions = row.get("actions") or []
        if isinstance(actions, str):
            actions = json.loads(actions)
        for action in dict.fromkeys(actions):
            entry = stats.setdefault(action, {"successes": 0.0, "failures": 0.0, "cases": 0})
            entry["successes" if row.get("outcome") == "success" else "failures"] += weight
            entry["cases"] += 1
    for entry in stats.values():
        s, f = entry["successes"], entry["failures"]
        entry["score"] = round((s - f) / (s + f + 1.0), 4)
        entry["success_rate"] = round(s / (s + f), 4) if s + f else 0.0
        entry["successes"], entry["failures"] = round(s, 4), round(f, 4)
    return stats


def search(text: str, *, os: str | None = None, limit: int = 10,
           store: LearningStore | CaseStore | None = None) -> pd.DataFrame:
    """Past cases similar to ``text`` as a DataFrame, most similar first.

    Columns: id, created_at, symptom, language, os, actions, outcome, technician, score (similarity 0..1),
    success_rate (how often this case's actions worked across the similar cases), source (local|shared).
    """
    import pandas as pd

    if not isinstance(text, str) or not text.strip():
        raise AssistantError(tr("Suchtext fehlt.", "Search text is missing."))
    if os is not None and os not in OSES:
        raise AssistantError(tr("os={v!r} – erlaubt: windows | linux | darwin", "os={v!r} – allowed: windows | linux | darwin",
                                v=os))
    if not isinstance(limit, int) or limit < 1:
        raise AssistantError(tr("limit muss eine positive ganze Zahl sein, nicht {v!r}.",
                                "limit must be a positive whole number, not {v!r}.", v=limit))
    rows = (store or get_store()).search(text, os=os, limit=limit)
    rates = _success_rates(rows)
    out = []
    for row in rows[:limit]:
        actions = row.get("actions") or []
        rate = [rates[a]["success_rate"] for a in actions if a in rates]
        out.append({"id": row.get("id"), "created_at": row.get("created_at"), "symptom": row.get("symptom"),
                    "language": row.get("language"), "os": row.get("os"), "actions": list(actions),
                    "outcome": row.get("outcome"), "technician": row.get("technician"),
                    "score": float(row.get("score") or 0.0),
                    "success_rate": float(row["success_rate"]) if row.get("success_rate") is not None
                    else (sum(rate) / len(rate) if rate else 0.0),
                    "source": row.get("source", "local")})
    return pd.DataFrame(out, columns=COLUMNS)


def action_scores(text: str, *, os: str | None = None,
                  store: LearningStore | CaseStore | None = None) -> dict[str, dict[str, float]]:
    """Evidence per action from similar cases: ``{action: {successes, failures, cases, score, success_rate}}``.

    ``successes``/``failures`` are similarity-weighted counts; ``score`` = (s - f) / (s + f + 1) lies in (-1, 1):
    positive when the action worked on similar symptoms, negative when it failed.
    """
    if not text or not text.strip():
        return {}
    return _success_rates((store or get_store()).search(text, os=os, limit=50))


def evidence_text(scores: dict[str, dict[str, float]], lang: str | None = None, *, weights: bool = False) -> str:
    """What worked and what did not help on similar past cases, in one line (empty without evidence):
    ``worked: a, b; did not help: c``. ``weights`` adds the similarity-weighted counts (the model's version)."""
    def name(action: str, count: float, de: str, en: str) -> str:
        return f"{action} ({tr(de, en, lang, n=count)})" if weights else action

    worked = [name(a, i["successes"], "{n:.1f} gewichtete Erfolge", "{n:.1f} weighted successes")
              for a, i in sorted(scores.items()) if i["score"] > 0]
    failed = [name(a, i["failures"], "{n:.1f} gewichtete Fehlschläge", "{n:.1f} weighted failures")
              for a, i in sorted(scores.items()) if i["score"] < 0]
    parts = []
    if worked:
        parts.append(tr("geholfen: {a}", "worked: {a}", lang, a=", ".join(worked)))
    if failed:
        parts.append(tr("nicht geholfen: {a}", "did not help: {a}", lang, a=", ".join(failed)))
    return "; ".join(parts)


def rank_actions(entries: list[dict[str, Any]], scores: dict[str, dict[str, float]], *,
                 needs: dict[int, set[int]] | None = None) -> list[dict[str, Any]]:
    """Plan entries (``{"action": id, ...}``) in the order to propose them: a restore point first, then by the
    evidence of past cases (``scores`` from :func:`action_scores`: worked up, failed down), then as listed.

    The evidence only ranks: ``needs[i]`` holds the indexes of the entries that entry ``i`` must follow (a
    service must be startable before Windows Update is reset), and no score ever moves an entry before one of
    them. An entry that others need ranks as high as the best of them, so a repair that worked comes early
    together with what it needs. Should two entries need each other, the one listed first goes first.
    """
    needs = needs or {}
    score = [float(scores[e["action"]]["score"]) if e["action"] in scores else 0.0 for e in entries]
    for _ in entries:  # lift each needed entry to the best score of the entries that need it (transitively)
        for index, required in needs.items():
            for other in required:
                score[other] = max(score[other], score[index])

    def rank(index: int) -> tuple[int, float, int]:
        return (0 if entries[index]["action"] == "win.create_restore_point" else 1, -score[index], index)

    remaining = set(range(len(entries)))
    order: list[int] = []
    while remaining:
        ready = [i for i in remaining if not (needs.get(i, set()) & remaining)]
        chosen = min(ready, key=rank) if ready else min(remaining)
        order.append(chosen)
        remaining.discard(chosen)
    return [entries[i] for i in order]


# ---- recording finished plan runs -------------------------------------------------------------------------------

_OUTCOME = {"completed": "success", "failed": "failure"}


def record_run(plan: Plan, result: RunResult) -> dict[str, Any] | None:
    """Hook for ``techcare.repairs.on_run_finished``: store a real run of a plan with a symptom as a case — the
    actions of the steps it attempted, ``success`` when the run completed, ``failure`` when a step failed.
    Dry runs and runs that attempted nothing are not cases. Never raises."""
    try:
        outcome = _OUTCOME.get(result.status)
        if result.dry_run or outcome is None or not plan.symptom:
            return None
        # not approved, not confirmed, not reached: not attempted, so no evidence either way
        actions = list(dict.fromkeys(o.action_id for o in result.steps if o.status in _ATTEMPTED))
        if not actions:
            return None
        return record(plan.symptom, actions=actions, outcome=outcome, os=plan.platform, findings=plan.findings,
                      plan_id=plan.id)
    except Exception as exc:  # noqa: BLE001 - recording must never break a repair run
        log.warning("could not record the case: %s", exc)
        return None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def _safe_url(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return url.split("@")[-1]
