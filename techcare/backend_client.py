"""The one HTTP client for every call to the TechCare backend.

- Base URL from ``BACKEND_URL`` (or the constructor), ``Authorization: Bearer <key>`` from ``TECHCARE_API_KEY``.
- Timeouts on connect/read/write/pool.
- Retries with full jitter on network errors, 408, 429 (honouring ``Retry-After``) and 5xx. All backend writes we
  make are idempotent (metric samples carry a client ``sample_id``, license validation is a pure check), so POSTs
  are retried too.
- The test seam is the constructor argument ``client=``: tests pass a FastAPI ``TestClient``, an
  ``httpx.Client(transport=httpx.MockTransport(...))`` or a client pointing at a live local server.

Errors: :class:`BackendUnavailable` (the backend could not be reached or stayed overloaded/broken after the
retries: callers such as the license check treat it as *offline*) and :class:`BackendHTTPError` (a definite
answer such as 401, 403, 404 or 422). Both are :class:`techcare.errors.BackendError`.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from ._version import __version__
from .errors import BackendError
from .i18n import get_language, tr

__all__ = ["FETCH_LIMIT", "RETRY_STATUSES", "BackendClient", "BackendHTTPError", "BackendUnavailable",
           "parse_retry_after"]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: the largest answer to ``GET /api/sensor/jobs`` a sensor reads: at most 10 jobs of at most 256 KiB (the
#: backend's envelope limit) plus the due maintenance occurrences and cancelled ids fit many times over
FETCH_LIMIT = 8 * 1024 * 1024
#: seconds a job fetch may take beyond its long-poll ``wait`` before it is given up (slow answers included)
FETCH_MARGIN = 15.0


class BackendUnavailable(BackendError):
    """Network error, timeout, 408, 429 or 5xx after all retries: treat as offline."""

    def __init__(self, message: str, *, status_code: int | None = None, retry_after: float | None = None,
                 response: httpx.Response | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status_code = status_code
        self.retry_after = retry_after
        self.response = response


class BackendHTTPError(BackendError):
    """A definite error answer from the backend (4xx other than 408/429)."""

    def __init__(self, message: str, *, status_code: int, response: httpx.Response, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status_code = status_code
        self.response = response

    def json(self) -> Any:
        try:
            return self.response.json()
        except ValueError:
            return None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); ``None`` if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    if isinstance(body, dict):
        detail = body.get("detail", body.get("error", body))
        return str(detail)[:300]
    return str(body)[:300]


class BackendClient:
    """Talks to the backend. Construct with explicit values or let it read the settings.

    ``sleep`` and ``rng`` are injectable so retry timing is testable without waiting.
    """

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 client: httpx.Client | None = None, timeout: float = 10.0, connect_timeout: float = 5.0,
                 retries: int = 3, backoff: float = 0.5, max_backoff: float = 30.0, max_retry_after: float = 60.0,
                 sleep: Callable[[float], None] = time.sleep, rng: Callable[[], float] = random.random,
                 settings: Any = None) -> None:
        if base_url is None and client is None:
            from .config import get_settings

            settings = settings or get_settings()
            base_url = settings.backend_url
            if api_key is None:
                api_key = settings.techcare_api_key
        elif settings is not None and api_key is None:
            api_key = settings.techcare_api_key
        if base_url is None and client is not None and not str(client.base_url):
            raise BackendError(tr("BACKEND_URL ist nicht gesetzt.", "BACKEND_URL is not set."),
                               hint=tr("In .env eintragen, z.B. BACKEND_URL=https://techcare.firma.de",
                                       "Set it in .env, e.g. BACKEND_URL=https://techcare.example.com"))
        if base_url is None and client is None:
            raise BackendError(tr("BACKEND_URL ist nicht gesetzt.", "BACKEND_URL is not set."),
                               hint=tr("In .env eintragen, z.B. BACKEND_URL=https://techcare.firma.de",
                                       "Set it in .env, e.g. BACKEND_URL=https://techcare.example.com"))
        self.base_url = base_url.rstrip("/") if base_url else str(client.base_url).rstrip("/")  # type: ignore[union-attr]
        self.api_key = api_key
        self.retries = max(0, int(retries))
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._rng = rng
        self._owns_client = client is None
        self._use_relative = client is not None and base_url is None
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            headers={"User-Agent": f"techcare/{__version__}"}, follow_redirects=False)
        self.attempts = 0  # total HTTP attempts made (for tests and diagnostics)

    # ---- plumbing ---------------------------------------------------------------------------------------
    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> BackendClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, path: str) -> str:
        path = "/" + path.lstrip("/")
        return path if self._use_relative else self.base_url + path

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after + self._rng() * min(1.0, self.backoff)
        return self._rng() * min(self.max_backoff, self.backoff * (2 ** attempt))  # full jitter

    def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                auth: bool = True, retries: int | None = None, timeout: float | None = None,
                headers: dict[str, str] | None = None) -> httpx.Response:
        """One call with retries. Returns the response for 2xx/3xx; raises :class:`BackendError` subclasses."""
        headers = dict(headers or {})
        headers.setdefault("Accept-Language", get_language())  # the backend's messages in the technician's language
        if auth:
            if not self.api_key:
                raise BackendError(tr("Kein API-Schlüssel: TECHCARE_API_KEY ist nicht gesetzt.",
                                      "No API key: TECHCARE_API_KEY is not set."),
                                   hint=tr("Einen Schlüssel (tck_…) beim Backend-Admin anfordern und in .env eintragen.",
                                           "Ask the backend admin for a key (tck_…) and put it in .env."))
            headers["Authorization"] = f"Bearer {self.api_key}"
        budget = self.retries if retries is None else max(0, retries)
        url = self.url(path)
        kwargs: dict[str, Any] = {"headers": headers}
        if json is not None:
            kwargs["json"] = json
        if params:
            kwargs["params"] = {k: v for k, v in params.items() if v is not None}
        if timeout is not None:
            kwargs["timeout"] = timeout
        attempt = 0
        while True:
            self.attempts += 1
            try:
                response = self._client.request(method, url, **kwargs)
            except httpx.TransportError as exc:  # connect/read timeouts, refused, DNS, TLS, protocol errors
                if attempt < budget:
                    self._sleep(self._delay(attempt, None))
                    attempt += 1
                    continue
                raise BackendUnavailable(
                    tr("Backend nicht erreichbar ({url}): {exc}", "Backend not reachable ({url}): {exc}",
                       url=self.base_url, exc=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__),
                    hint=tr("Prüfe BACKEND_URL, die Netzwerkverbindung und ob der Server läuft (techcare doctor).",
                            "Check BACKEND_URL, the network connection and whether the server runs (techcare doctor).")
                ) from None
            status = response.status_code
            if status in RETRY_STATUSES or status >= 500:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                too_long = retry_after is not None and retry_after > self.max_retry_after
                if attempt < budget and not too_long:
                    self._sleep(self._delay(attempt, retry_after))
                    attempt += 1
                    continue
                raise BackendUnavailable(
                    tr("Backend antwortet mit HTTP {status}: {detail}", "Backend answered HTTP {status}: {detail}",
                       status=status, detail=_detail(response)),
                    status_code=status, retry_after=retry_after, response=response,
                    hint=tr("Der Server ist überlastet oder gestört; später erneut versuchen.",
                            "The server is overloaded or failing; try again later."))
            if status >= 400:
                raise BackendHTTPError(
                    tr("Backend lehnt ab: HTTP {status}: {detail}", "Backend refused: HTTP {status}: {detail}",
                       status=status, detail=_detail(response)),
                    status_code=status, response=response,
                    hint=_hint_for(status))
            return response

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post_json(self, path: str, body: Any, **kwargs: Any) -> Any:
        return self.request("POST", path, json=body, **kwargs).json()

    # ---- the contract ---------------------------------------------------------------------------------
    def health(self, **kwargs: Any) -> dict[str, Any]:
        return self.get_json("/api/health", auth=False, **kwargs)

    def me(self) -> dict[str, Any]:
        """Who the API key belongs to: organisation, role, technician, edition, entitlements."""
        return self.get_json("/api/me")

    def public_keys(self) -> dict[str, Any]:
        return self.get_json("/api/licenses/public-keys", auth=False)

    def validate_license(self, *, key: str, fingerprint: str, nonce: str, client_version: str = __version__,
                         retries: int | None = None) -> httpx.Response:
        """Returns the raw response (the caller verifies the signed lease itself)."""
        return self.request("POST", "/api/licenses/validate", auth=False, retries=retries,
                            json={"key": key, "fingerprint": fingerprint, "nonce": nonce,
                                  "client_version": client_version})

    def activate_license(self, *, key: str, fingerprint: str, hostname: str | None = None) -> Any:
        return self.post_json("/api/licenses/activate", {"key": key, "fingerprint": fingerprint,
                                                         "hostname": hostname}, auth=False)

    def deactivate_license(self, *, key: str, fingerprint: str) -> Any:
        return self.post_json("/api/licenses/deactivate", {"key": key, "fingerprint": fingerprint}, auth=False)

    def post_metrics(self, sample: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self.post_json("/api/monitoring/metrics", sample, **kwargs)

    def post_metrics_batch(self, samples: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        return self.post_json("/api/monitoring/metrics/batch", {"samples": samples}, **kwargs)

    def hosts(self, *, tag: str | None = None) -> list[dict[str, Any]]:
        return self.get_json("/api/monitoring/hosts", params={"tag": tag})

    def host_metrics(self, hostname: str, *, since: str | None = None, until: str | None = None,
                     limit: int | None = None) -> list[dict[str, Any]]:
        """The raw samples of ``hostname`` (the newest ``limit`` of the range; the backend's default: 1,000)."""
        return self.get_json(f"/api/monitoring/hosts/{quote(hostname, safe='')}/metrics",
                             params={"since": since, "until": until, "limit": limit})

    def host_history(self, hostname: str, *, since: str | None = None, until: str | None = None,
                     resolution: str | None = None) -> dict[str, Any]:
        """``GET .../history``: min/avg/max per sample, hour or day, at the resolution the range calls for (or the one
        asked), with ``resolution`` in the answer."""
        return self.get_json(f"/api/monitoring/hosts/{quote(hostname, safe='')}/history",
                             params={"since": since, "until": until, "resolution": resolution})

    def alerts(self) -> list[dict[str, Any]]:
        return self.get_json("/api/monitoring/alerts")

    def create_case(self, case: dict[str, Any]) -> dict[str, Any]:
        return self.post_json("/api/cases", case)

    def search_cases(self, q: str, *, os: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        return self.get_json("/api/cases/search", params={"q": q, "os": os, "limit": limit})

    # ---- remote jobs, technician side (docs/remote-jobs.md §3; techcare.fleet checks the answers) ---------------
    def create_job(self, envelope: dict[str, Any]) -> Any:
        """``POST /api/jobs``: queue a signed envelope. Retried like every write: a retry of a job that did arrive
        answers 409 (the job id exists), which ``techcare.fleet`` recognises as its own."""
        return self.post_json("/api/jobs", {"envelope": envelope})

    def list_jobs(self, *, host: str | None = None, status: str | None = None, limit: int | None = None,
                  before: str | None = None) -> Any:
        return self.get_json("/api/jobs", params={"host": host, "status": status, "limit": limit, "before": before})

    def get_job(self, job_id: str) -> Any:
        return self.get_json(f"/api/jobs/{quote(job_id, safe='')}")

    def cancel_job(self, job_id: str, *, hosts: list[str] | None = None) -> Any:
        body = {"hosts": hosts} if hosts is not None else {}
        return self.post_json(f"/api/jobs/{quote(job_id, safe='')}/cancel", body)

    # ---- tags, maintenance schedules, the maintenance report (docs/remote-jobs.md §5; techcare.fleet checks) ------
    def tags(self) -> Any:
        """``GET /api/tags``: ``[{tag, hosts}]``."""
        return self.get_json("/api/tags")

    def tag_hosts(self, tag: str, hosts: list[str]) -> Any:
        return self.post_json(f"/api/tags/{quote(tag, safe=':')}/hosts", {"hosts": hosts})

    def untag_hosts(self, tag: str, hosts: list[str]) -> Any:
        return self.request("DELETE", f"/api/tags/{quote(tag, safe=':')}/hosts", json={"hosts": hosts}).json()

    def create_schedule(self, envelope: dict[str, Any]) -> Any:
        """``POST /api/schedules``: a signed schedule or a higher revision of it (a retry that did arrive answers
        409, which ``techcare.fleet`` recognises as its own)."""
        return self.post_json("/api/schedules", {"envelope": envelope})

    def list_schedules(self, *, tag: str | None = None, host: str | None = None) -> Any:
        return self.get_json("/api/schedules", params={"tag": tag, "host": host})

    def get_schedule(self, schedule_id: str) -> Any:
        return self.get_json(f"/api/schedules/{quote(schedule_id, safe='')}")

    def pause_schedule(self, schedule_id: str) -> Any:
        return self.post_json(f"/api/schedules/{quote(schedule_id, safe='')}/pause", {})

    def resume_schedule(self, schedule_id: str) -> Any:
        return self.post_json(f"/api/schedules/{quote(schedule_id, safe='')}/resume", {})

    def delete_schedule(self, schedule_id: str) -> Any:
        return self.request("DELETE", f"/api/schedules/{quote(schedule_id, safe='')}").json()

    def schedule_occurrences(self, schedule_id: str, *, since: str | None = None, until: str | None = None,
                             host: str | None = None) -> Any:
        return self.get_json(f"/api/schedules/{quote(schedule_id, safe='')}/occurrences",
                             params={"since": since, "until": until, "host": host})

    def maintenance_report(self, *, tag: str | None = None, month: str | None = None, lang: str = "de") -> Any:
        """``GET /api/reports/maintenance``: the data of the monthly report (texts of the backend in ``lang``)."""
        return self.get_json("/api/reports/maintenance", params={"tag": tag, "month": month},
                             headers={"Accept-Language": lang})

    # ---- remote jobs, sensor side (docs/remote-jobs.md §3; techcare.monitoring.executor verifies the envelopes) ----
    def fetch_jobs(self, host: str, *, wait: int = 0) -> Any:
        """``GET /api/sensor/jobs``: ``{"jobs": [{"job_id", "envelope"}...], "cancelled": [job_id...]}`` due for
        ``host``. With ``wait`` (1..30 s) and nothing due the backend holds the request until a job is queued
        (long-poll): no retries then, the sensor's job loop backs off itself.

        A hostile or broken backend cannot exhaust the host: the answer is read as a stream and given up past
        :data:`FETCH_LIMIT` bytes or ``wait`` + :data:`FETCH_MARGIN` seconds (a trickling answer included: at that
        deadline the connection is shut down), and a body that is not JSON (or nested too deeply)
        becomes one :class:`BackendUnavailable` that says so."""
        wait = max(0, min(30, int(wait)))
        budget = wait + FETCH_MARGIN
        deadline = time.monotonic() + budget
        headers = {"Accept-Language": get_language()}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        else:
            self.request("GET", "/api/sensor/jobs", params={"host": host, "wait": 0}, retries=0)  # names the problem
        timeout = httpx.Timeout(min(budget, wait + 10.0), connect=min(5.0, budget))
        response: httpx.Response | None = None
        for attempt in range(1 if wait else self.retries + 1):
            self.attempts += 1
            try:
                with self._client.stream("GET", self.url("/api/sensor/jobs"), params={"host": host, "wait": wait},
                                         headers=headers, timeout=timeout) as response:
                    status = response.status_code
                    if status in RETRY_STATUSES or status >= 400:
                        response.read()  # error bodies are small; a large one is cut below by the limit anyway
                    else:
                        body = self._read_capped(response, deadline)
                        return _json_answer(body, self.base_url)
            except httpx.TransportError as exc:
                if attempt < (0 if wait else self.retries) and time.monotonic() < deadline:
                    self._sleep(self._delay(attempt, None))
                    continue
                raise BackendUnavailable(
                    tr("Backend nicht erreichbar ({url}): {exc}", "Backend not reachable ({url}): {exc}",
                       url=self.base_url, exc=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__),
                    hint=tr("Prüfe BACKEND_URL, die Netzwerkverbindung und ob der Server läuft (techcare doctor).",
                            "Check BACKEND_URL, the network connection and whether the server runs (techcare doctor).")
                ) from None
            if status in RETRY_STATUSES and attempt < (0 if wait else self.retries) and time.monotonic() < deadline:
                self._sleep(self._delay(attempt, None))
                continue
            break
        assert response is not None
        if status in RETRY_STATUSES or status >= 500:
            raise BackendUnavailable(
                tr("Backend antwortet mit HTTP {status}: {detail}", "Backend answered HTTP {status}: {detail}",
                   status=status, detail=_detail(response)), status_code=status, response=response,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                hint=tr("Der Server ist überlastet oder gestört; später erneut versuchen.",
                        "The server is overloaded or failing; try again later."))
        raise BackendHTTPError(
            tr("Backend lehnt ab: HTTP {status}: {detail}", "Backend refused: HTTP {status}: {detail}",
               status=status, detail=_detail(response)), status_code=status, response=response,
            hint=_hint_for(status))

    def _read_capped(self, response: httpx.Response, deadline: float) -> bytes:
        """The body of a streamed ``response``: at most :data:`FETCH_LIMIT` bytes, done before ``deadline``."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > FETCH_LIMIT:
            raise _too_large(self.base_url, int(declared))
        chunks: list[bytes] = []
        size = 0
        # Each read has its own timeout, so a trickle (one byte now and then) would stretch the answer for ever: at
        # the deadline a watchdog shuts the connection's socket down, which ends a read blocked on it at once.
        network = response.extensions.get("network_stream")
        sock = network.get_extra_info("socket") if network is not None else None
        watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), _shut, (sock,)) if sock is not None \
            else None
        if watchdog is not None:
            watchdog.daemon = True
            watchdog.start()
        try:
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > FETCH_LIMIT:
                    raise _too_large(self.base_url, size)
                if time.monotonic() > deadline:
                    raise self._too_slow(size)
                chunks.append(chunk)
        except httpx.TransportError:
            if time.monotonic() >= deadline - 0.1:
                raise self._too_slow(size) from None
            raise
        finally:
            if watchdog is not None:
                watchdog.cancel()
        return b"".join(chunks)

    def _too_slow(self, size: int) -> BackendUnavailable:
        return BackendUnavailable(tr(
            "Die Auftragsabfrage beim Backend ({url}) dauerte zu lange (Antwort nach {n} Bytes noch nicht "
            "vollständig); abgebrochen.", "The job query to the backend ({url}) took too long (answer not "
            "complete after {n} bytes); given up.", url=self.base_url, n=size),
            hint=tr("Netzwerk oder Backend sind gestört; der Sensor fragt später erneut.",
                    "The network or the backend is failing; the sensor asks again later."))

    def report_job(self, job_id: str, *, host: str, status: str, reason: str | None = None,
                   message: str | None = None, steps: list[dict[str, Any]] | None = None,
                   diagnosis: dict[str, Any] | None = None) -> Any:
        """``POST /api/sensor/jobs/{id}/report``: progress (``running`` with ``steps``) or the result of a job on
        ``host``. Answers ``{"cancel": bool}``; a report after a terminal one is refused with 409."""
        body = {"host": host, "status": status, "reason": reason, "message": message, "steps": steps,
                "diagnosis": diagnosis}
        return self.post_json(f"/api/sensor/jobs/{quote(job_id, safe='')}/report",
                              {k: v for k, v in body.items() if v is not None})

    def report_occurrence(self, schedule_id: str, occurrence: str, *, host: str, status: str,
                          reason: str | None = None, message: str | None = None,
                          steps: list[dict[str, Any]] | None = None) -> Any:
        """``POST /api/sensor/schedules/{id}/occurrences/{occurrence}/report``: ``running`` (with the steps so far),
        ``ran``, ``failed`` or ``skipped`` (a refusal, with its ``reason``) for one maintenance occurrence on
        ``host`` (docs/remote-jobs.md §5). A report after a final one is refused with 409."""
        body = {"host": host, "status": status, "reason": reason, "message": message, "steps": steps}
        return self.post_json(f"/api/sensor/schedules/{quote(schedule_id, safe='')}/occurrences/"
                              f"{quote(occurrence, safe='')}/report", {k: v for k, v in body.items() if v is not None})


def _shut(sock: Any) -> None:
    """Shut a socket down for reading and writing (wakes a read blocked on it); closing is left to its owner."""
    import socket

    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _too_large(url: str, size: int) -> BackendUnavailable:
    return BackendUnavailable(
        tr("Die Antwort des Backends ({url}) auf die Auftragsabfrage ist zu groß ({n} Bytes, höchstens {m}); "
           "nicht gelesen.", "The backend's answer ({url}) to the job query is too large ({n} bytes, at most {m}); "
           "not read.", url=url, n=size, m=FETCH_LIMIT),
        hint=tr("Ein TechCare-Backend liefert höchstens 10 Aufträge je Antwort; zeigt BACKEND_URL auf den richtigen "
                "Server?", "A TechCare backend delivers at most 10 jobs per answer; does BACKEND_URL point at the "
                "right server?"))


def _json_answer(body: bytes, url: str) -> Any:
    """``body`` parsed as JSON; one :class:`BackendUnavailable` naming the problem otherwise (also for JSON nested
    too deeply to parse, which raises ``RecursionError``)."""
    import json

    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        what = tr("zu tief verschachtelt", "nested too deeply") if isinstance(exc, RecursionError) else \
            f"{type(exc).__name__}: {str(exc)[:120]}"
        raise BackendUnavailable(tr("Die Antwort des Backends ({url}) auf die Auftragsabfrage ist kein lesbares "
                                    "JSON ({w}).", "The backend's answer ({url}) to the job query is not readable "
                                    "JSON ({w}).", url=url, w=what)) from None


def _hint_for(status: int) -> str:
    if status == 401:
        return tr("API-Schlüssel fehlt oder ist ungültig: TECHCARE_API_KEY in .env prüfen.",
                  "The API key is missing or invalid: check TECHCARE_API_KEY in .env.")
    if status == 403:
        return tr("Der Schlüssel oder die Lizenz erlaubt das nicht (Edition/Berechtigung prüfen).",
                  "The key or the license does not allow this (check the edition/role).")
    if status == 404:
        return tr("Pfad nicht gefunden: zeigt BACKEND_URL auf den TechCare-Server?",
                  "Path not found: does BACKEND_URL point at the TechCare server?")
    if status == 422:
        return tr("Der Server hat die Daten als ungültig abgelehnt.", "The server rejected the data as invalid.")
    return tr("Siehe Server-Log für Details.", "See the server log for details.")
