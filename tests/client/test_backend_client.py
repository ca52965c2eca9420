"""The backend client: retries with jitter on network errors / 408 / 429 / 5xx, Retry-After, definite errors."""

from __future__ import annotations

import httpx
import pytest

from techcare.backend_client import (
    BackendClient,
    BackendHTTPError,
    BackendUnavailable,
    parse_retry_after,
)
from techcare.errors import BackendError


def make(handler, **kw):
    sleeps: list[float] = []
    client = BackendClient("http://backend.test", "tck_secret", client=httpx.Client(transport=httpx.MockTransport(handler)),
                           sleep=sleeps.append, rng=lambda: 0.5, **kw)
    return client, sleeps


def test_bearer_key_and_json():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(201, json={"sample_id": "a", "status": "created"})

    client, _ = make(handler)
    assert client.post_metrics({"sample_id": "a"}) == {"sample_id": "a", "status": "created"}
    assert seen[0].headers["Authorization"] == "Bearer tck_secret"
    assert str(seen[0].url) == "http://backend.test/api/monitoring/metrics"


def test_health_needs_no_key():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json={"status": "ok"})

    client = BackendClient("http://b.test", None, client=httpx.Client(transport=httpx.MockTransport(handler)))
    assert client.health()["status"] == "ok"
    assert "Authorization" not in seen[0].headers
    with pytest.raises(BackendError, match="TECHCARE_API_KEY"):
        client.hosts()


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status):
    answers = [httpx.Response(status, json={"detail": "x"}), httpx.Response(status), httpx.Response(200, json={"ok": 1})]

    client, sleeps = make(lambda request: answers.pop(0), retries=3)
    assert client.get_json("/api/x") == {"ok": 1}
    assert client.attempts == 3 and len(sleeps) == 2
    # full jitter: rng 0.5 * min(max_backoff, backoff * 2**attempt)
    assert sleeps == [pytest.approx(0.25), pytest.approx(0.5)]


def test_retry_after_is_honoured():
    answers = [httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={})]
    client, sleeps = make(lambda request: answers.pop(0))
    client.get_json("/api/x")
    assert 7 <= sleeps[0] <= 8


def test_retry_after_too_long_gives_up_at_once():
    client, sleeps = make(lambda request: httpx.Response(429, headers={"Retry-After": "3600"}))
    with pytest.raises(BackendUnavailable) as info:
        client.get_json("/api/x")
    assert info.value.status_code == 429 and info.value.retry_after == 3600 and sleeps == []


def test_network_errors_retry_then_unavailable():
    def handler(request):
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    client, sleeps = make(handler, retries=2)
    with pytest.raises(BackendUnavailable, match="nicht erreichbar|not reachable"):
        client.get_json("/api/x")
    assert client.attempts == 3 and len(sleeps) == 2


def test_definite_errors_are_not_retried():
    client, sleeps = make(lambda request: httpx.Response(403, json={"detail": "sensor_mode needs Pro Business"}))
    with pytest.raises(BackendHTTPError) as info:
        client.post_metrics({})
    assert info.value.status_code == 403 and "sensor_mode" in str(info.value) and client.attempts == 1
    assert info.value.json() == {"detail": "sensor_mode needs Pro Business"}


def test_parse_retry_after_http_date():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 30) == pytest.approx(30)
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None and parse_retry_after("-3") == 0


def test_missing_backend_url_is_a_clear_error():
    from techcare.config import load_settings

    with pytest.raises(BackendError, match="BACKEND_URL"):
        BackendClient(settings=load_settings())


def test_injected_client_with_base_url_uses_relative_paths():
    seen = []

    def handler(request):
        seen.append(str(request.url))
        return httpx.Response(200, json={"status": "ok"})

    inner = httpx.Client(base_url="http://testserver", transport=httpx.MockTransport(handler))
    BackendClient(client=inner).health()
    assert seen == ["http://testserver/api/health"]


def test_host_names_are_one_path_segment_in_the_history_url():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json=[])

    client, _ = make(handler)
    assert client.host_metrics("kasse 01/../admin?x=1", since="2026-12-01T00:00:00Z") == []
    assert seen[0].url.raw_path.startswith(b"/api/monitoring/hosts/kasse%2001%2F..%2Fadmin%3Fx%3D1/metrics?")
    assert seen[0].url.params["since"] == "2026-12-01T00:00:00Z"
