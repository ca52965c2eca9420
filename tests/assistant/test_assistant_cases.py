"""Learning from cases: local SQLite, PostgreSQL, MariaDB, the backend API, ranking, the run hook."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from assistant_helpers import make_diagnosis

from techcare import features, license, repairs
from techcare.assistant import Assistant, cases
from techcare.config import get_settings
from techcare.errors import AssistantError
from techcare.system.runner import CommandResult, Entry, ReplayRunner


def test_record_and_search_locally():
    result = cases.record("Drucker druckt nicht, Warteschlange hängt", actions=["win.restart_service"], outcome="success",
                          os="windows", language="de", findings=[{"check": "service:Spooler", "severity": "warning"}])
    assert result["local"] is True and result["shared"] is None
    assert (get_settings().cases_dir / "cases.db").exists()
    cases.record("Bluescreen beim Spielen", actions=["win.sfc_scannow"], outcome="failure", os="windows", language="de")
    frame = cases.search("Drucker spinnt, nichts wird gedruckt", os="windows")
    assert list(frame.columns) == cases.COLUMNS
    assert list(frame["symptom"]) == ["Drucker druckt nicht, Warteschlange hängt"]
    row = frame.iloc[0]
    assert row["actions"] == ["win.restart_service"] and row["outcome"] == "success" and row["source"] == "local"
    assert 0 < row["score"] <= 1 and row["success_rate"] == 1.0


def test_similarity_crosses_languages_through_categories():
    cases.record("kein Internet seit heute morgen", actions=["win.reset_winsock"], outcome="success", os="windows",
                 language="de")
    frame = cases.search("no internet on the desktop", os="windows")
    assert list(frame["symptom"]) == ["kein Internet seit heute morgen"]


def test_os_filter():
    cases.record("kein Internet", actions=["linux.flush_dns"], outcome="success", os="linux", language="de")
    assert cases.search("kein Internet", os="windows").empty
    assert len(cases.search("kein Internet", os="linux")) == 1


def test_a_repair_that_failed_twice_ranks_below_one_that_worked():
    for symptom in ("Windows Update hängt bei 0 %", "Update-Fehler 0x80070002"):
        cases.record(symptom, actions=["win.sfc_scannow"], outcome="failure", os="windows", language="de")
    cases.record("Windows Update lädt nicht", actions=["win.reset_windows_update"], outcome="success", os="windows",
                 language="de")
    scores = cases.action_scores("Windows Update funktioniert nicht", os="windows")
    assert scores["win.reset_windows_update"]["score"] > 0 > scores["win.sfc_scannow"]["score"]
    assert scores["win.sfc_scannow"]["cases"] == 2

    bot = Assistant(engine="offline", diagnosis=make_diagnosis("windows"), language="de")
    reply = bot.ask("Windows Update funktioniert nicht")
    order = [s.action_id for s in reply.plan.steps]
    assert order.index("win.reset_windows_update") < order.index("win.dism_restore_health") < order.index("win.sfc_scannow")
    assert "nicht geholfen: win.sfc_scannow" in reply.text and "geholfen: win.reset_windows_update" in reply.text


def test_without_cases_the_knowledge_order_stands():
    reply = Assistant(engine="offline", diagnosis=make_diagnosis("windows")).ask("Windows Update funktioniert nicht")
    order = [s.action_id for s in reply.plan.steps]
    assert order.index("win.sfc_scannow") > order.index("win.reset_windows_update")
    assert order.index("win.dism_restore_health") < order.index("win.sfc_scannow")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"outcome": "maybe"}, "success | failure"),
    ({"os": "beos"}, "windows | linux | darwin"),
    ({"language": "fr"}, "de | en"),
    ({"actions": "win.flush_dns"}, "list of action ids"),
])
def test_bad_case_values_are_named(kwargs, message, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    args = {"actions": ["win.flush_dns"], "outcome": "success", "os": "windows", "language": "de", **kwargs}
    with pytest.raises(AssistantError, match=message.replace("|", r"\|")):
        cases.record("kein Internet", **args)
    with pytest.raises(AssistantError):
        cases.search("")


def _exercise_sql_store(url: str) -> None:
    store = cases.SQLCaseStore(url)
    try:
        now = datetime.now(UTC)
        for i, (symptom, action, outcome) in enumerate([
            ("Drucker druckt nicht", "win.restart_service", "success"),
            ("Drucker spinnt", "win.restart_service", "success"),
            ("Drucker hängt", "win.clear_temp_files", "failure"),
            ("Bluescreen", "win.sfc_scannow", "success"),
        ]):
            store.add({"id": f"case-{i}", "created_at": now, "symptom": symptom, "language": "de", "os": "windows",
                       "findings": [{"check": "service:Spooler", "severity": "warning", "summary": "Spooler ✖ gestoppt"}],
                       "actions": [action], "outcome": outcome, "technician": "Jörg", "plan_id": None,
                       "categories": cases._categories(symptom)})
        frame = cases.search("Drucker geht nicht", os="windows", store=store)
        assert set(frame["symptom"]) == {"Drucker druckt nicht", "Drucker spinnt", "Drucker hängt"}
        assert frame.iloc[0]["technician"] == "Jörg"
        scores = cases.action_scores("Drucker geht nicht", os="windows", store=store)
        assert scores["win.restart_service"]["score"] > 0 > scores["win.clear_temp_files"]["score"]
        # survives a reconnect (a second store on the same database reuses the table)
        assert len(cases.SQLCaseStore(url).rows(os="windows")) == 4
    finally:
        store.dispose()


@pytest.mark.postgres
def test_postgresql_store(fresh_postgres_url: str):
    _exercise_sql_store(fresh_postgres_url)


@pytest.mark.mariadb
def test_mariadb_store(mariadb_url: str):
    _exercise_sql_store(mariadb_url)


def test_unreachable_database_is_a_clear_error():
    with pytest.raises(AssistantError, match="127.0.0.1:1"):
        cases.SQLCaseStore("postgresql+psycopg://postgres@127.0.0.1:1/nothing?connect_timeout=2")


@pytest.mark.postgres
def test_enterprise_records_into_the_shared_database(fresh_postgres_url: str, monkeypatch: pytest.MonkeyPatch,
                                                    licensed):
    monkeypatch.setenv("LEARNING_DB_URL", fresh_postgres_url)
    licensed("pro")
    assert cases.record("kein Internet", actions=["win.flush_dns"], outcome="success", os="windows",
                        language="de")["shared"] is None  # Pro: local only
    licensed("enterprise")
    cases.reset_store()
    result = cases.record("kein WLAN", actions=["win.reset_winsock"], outcome="success", os="windows", language="de")
    assert result["shared"] is True
    shared = cases.SQLCaseStore(fresh_postgres_url)
    try:
        assert [r["symptom"] for r in shared.rows()] == ["kein WLAN"]
    finally:
        shared.dispose()
    assert set(cases.search("kein Netz WLAN Internet", os="windows")["source"]) >= {"local"}


def test_backend_store_speaks_the_cases_api():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.headers["authorization"] == "Bearer tck_test"
        if request.method == "POST" and request.url.path == "/api/cases":
            body = json.loads(request.content)
            assert body["actions"] == ["win.reset_winsock"] and body["language"] == "de" and body["os"] == "windows"
            return httpx.Response(201, json={"id": "srv-1", **body})
        if request.method == "GET" and request.url.path == "/api/cases/search":
            assert request.url.params["q"] == "kein Internet" and request.url.params["os"] == "windows"
            return httpx.Response(200, json=[
                {"id": 9, "symptom": "Internet weg", "language": "de", "os": "windows", "actions": ["win.reset_winsock"],
                 "outcome": "success", "score": 0.9, "relevance": 1.0, "success_rate": 0.8, "times_tried": 5},
                {"id": 10, "symptom": "Drucker druckt nicht", "language": "de", "os": "windows",
                 "actions": ["win.restart_service"], "outcome": "success", "score": 0.2, "relevance": 0.1,
                 "success_rate": 1.0, "times_tried": 1}])
        return httpx.Response(404, json={"detail": "not found"})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    shared = cases.BackendCaseStore("https://techcare.example.com", "tck_test", http_client=client)
    local = cases.SQLCaseStore(f"sqlite:///{get_settings().cases_dir / 'cases.db'}")
    store = cases.LearningStore(local, shared)
    result = cases.record("kein Internet", actions=["win.reset_winsock"], outcome="success", os="windows", language="de",
                          store=store)
    assert result["shared"] is True
    frame = cases.search("kein Internet", os="windows", store=store)
    assert set(frame["id"]) == {result["id"], 9}  # the unrelated printer case is filtered by similarity
    assert frame.set_index("id").loc[9, "source"] == "shared"
    assert frame.set_index("id").loc[9, "success_rate"] == 0.8
    local.dispose()


def test_backend_down_keeps_the_local_case():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    local = cases.SQLCaseStore(f"sqlite:///{get_settings().cases_dir / 'cases.db'}")
    store = cases.LearningStore(local, cases.BackendCaseStore("https://techcare.example.com", "tck_x", http_client=client,
                                                              retries=0))
    result = cases.record("kein Internet", actions=["win.reset_winsock"], outcome="success", os="windows", language="de",
                          store=store)
    assert result["local"] is True and result["shared"] is False
    assert "techcare.example.com" in result["shared_error"]
    assert len(cases.search("kein Internet", os="windows", store=store)) == 1
    local.dispose()


def test_enterprise_with_backend_url_uses_the_backend(monkeypatch: pytest.MonkeyPatch, licensed):
    from techcare import config, features

    monkeypatch.setenv("BACKEND_URL", "https://techcare.example.com")
    monkeypatch.setenv("TECHCARE_API_KEY", "tck_abc")
    licensed("enterprise")
    store = cases.get_store()
    assert isinstance(store.shared, cases.BackendCaseStore)
    licensed("pro_business")
    assert cases.get_store().shared is None
    # EDITION=enterprise without a verified license grants nothing
    license.set_current(None)
    monkeypatch.setenv("EDITION", "enterprise")
    config.reset_settings()
    assert cases.get_store().shared is None


def _linux_plan_run(symptom: str, status: str) -> None:
    plan = repairs.Plan.from_actions([{"action": "linux.flush_dns"}], platform="linux", symptom=symptom)
    outcome = repairs.StepOutcome(1, "linux.flush_dns", "finished" if status == "completed" else "failed")
    result = repairs.RunResult(session="s1", plan_id=plan.id, dry_run=False, steps=[outcome], status=status,
                               changelog_path=get_settings().changelogs_dir / "x.jsonl")
    for hook in list(repairs.on_run_finished):
        hook(plan, result)


def test_finished_plan_runs_become_cases():
    Assistant(engine="offline", diagnosis=make_diagnosis("linux"))  # installs the hook
    assert cases.record_run in repairs.on_run_finished
    _linux_plan_run("Webseiten laden nicht, DNS kaputt", "completed")
    _linux_plan_run("DNS Namensauflösung geht nicht", "failed")
    frame = cases.search("DNS geht nicht", os="linux")
    assert sorted(frame["outcome"]) == ["failure", "success"]
    assert all(a == ["linux.flush_dns"] for a in frame["actions"])


def test_dry_runs_and_unapproved_steps_are_not_cases():
    plan = repairs.Plan.from_actions([{"action": "linux.flush_dns"}], platform="linux", symptom="DNS kaputt")
    dry = repairs.RunResult(session="s", plan_id=plan.id, dry_run=True, status="dry_run",
                            steps=[repairs.StepOutcome(1, "linux.flush_dns", "dry_run")],
                            changelog_path=get_settings().changelogs_dir / "x.jsonl")
    assert cases.record_run(plan, dry) is None
    skipped = repairs.RunResult(session="s", plan_id=plan.id, dry_run=False, status="completed",
                                steps=[repairs.StepOutcome(1, "linux.flush_dns", "not_run")],
                                changelog_path=get_settings().changelogs_dir / "x.jsonl")
    assert cases.record_run(plan, skipped) is None
    assert cases.search("DNS kaputt").empty


def test_features_gate_is_enterprise_only():
    assert features.edition_for("shared_learning_db") == "enterprise"


class _ResolvedMachine(ReplayRunner):
    """A Linux machine with systemd-resolved whose DNS cache empties when ``resolvectl flush-caches`` runs."""

    def __init__(self) -> None:
        super().__init__([Entry("fact", "is_admin", True), Entry("fact", "host", {"hostname": "pc-kunde"})],
                         platform="linux", fallback=self._machine)
        self.flushed = False

    def _machine(self, argv: tuple[str, ...]) -> CommandResult:
        if argv == ("resolvectl", "flush-caches"):
            self.flushed = True
            return CommandResult(argv, 0, "", "", 0.01)
        if argv == ("systemctl", "is-active", "systemd-resolved"):
            return CommandResult(argv, 0, "active\n", "", 0.01)
        if argv == ("resolvectl", "statistics"):
            size = 0 if self.flushed else 57
            return CommandResult(argv, 0, f"Cache\n  Current Cache Size: {size}\n          Cache Hits: 402\n", "", 0.01)
        return CommandResult(argv, 0, "", "", 0.01)


def test_chat_plan_approval_run_case_and_better_ranking_next_time():
    """The whole chat flow: message -> plan -> GO REPAIR -> run -> case -> the next similar question ranks it."""
    bot = Assistant(engine="offline", diagnosis=make_diagnosis("linux"), language="de")
    reply = bot.ask("DNS geht nicht, Namensauflösung kaputt")
    assert [s.action_id for s in reply.plan.steps] == ["linux.flush_dns"]
    machine = _ResolvedMachine()
    result = reply.plan.run(repairs.parse_approval("GO REPAIR: 1", reply.plan), runner=machine)
    assert result.status == "completed" and machine.flushed
    frame = cases.search("DNS geht nicht", os="linux")
    assert list(frame["actions"]) == [["linux.flush_dns"]] and list(frame["outcome"]) == ["success"]
    assert frame.iloc[0]["symptom"] == "DNS geht nicht, Namensauflösung kaputt"
    again = Assistant(engine="offline", diagnosis=make_diagnosis("linux"), language="de").ask("Namen werden nicht aufgelöst, DNS")
    assert "geholfen: linux.flush_dns" in again.text


@pytest.mark.postgres
def test_enterprise_cases_through_the_real_backend(fresh_postgres_url: str, monkeypatch: pytest.MonkeyPatch):
    """BACKEND_URL + a technician key: cases go to the real backend (on PostgreSQL) and come back in searches."""
    from techcare_backend.testing import seed, start_backend

    from techcare import config

    with start_backend(database_url=fresh_postgres_url) as backend:
        org = seed(backend, edition="enterprise", roles=("technician",))
        monkeypatch.setenv("EDITION", "enterprise")
        monkeypatch.setenv("BACKEND_URL", backend.url)
        monkeypatch.setenv("TECHCARE_API_KEY", org.keys["technician"])
        monkeypatch.setenv("LICENSE_KEY", org.license_key)
        monkeypatch.setenv("NETWORK_METHOD", "vpn")
        config.reset_settings()
        from techcare.license import check_license

        assert check_license().ok  # online against the live backend: the verified lease grants Enterprise
        cases.reset_store()
        result = cases.record("Drucker druckt nicht, Warteschlange hängt", actions=["win.restart_service"],
                              outcome="success", os="windows", language="de")
        assert result["shared"] is True, result
        # the same machine: the case is in the local and the team store, and is shown once (backend case_id)
        frame = cases.search("Drucker druckt nicht", os="windows")
        assert list(frame["id"]) == [result["id"]] and list(frame["source"]) == ["local"]
        # re-sending the case (e.g. a retry after a timeout) stores nothing new in the team store
        shared = cases.get_store().shared
        again = shared.add({"id": result["id"], "symptom": "anders", "language": "de", "os": "windows",
                            "findings": [], "actions": ["win.restart_service"], "outcome": "failure"})
        assert again["case_id"] == result["id"] and again["symptom"].startswith("Drucker druckt nicht")
        hits = shared.search("Drucker druckt nicht", os="windows")
        assert [h["case_id"] for h in hits] == [result["id"]] and hits[0]["times_tried"] == 1
        # a colleague's machine: empty local store, same team database
        monkeypatch.setenv("TECHCARE_DATA_DIR", str(get_settings().data_dir.parent / "colleague"))
        config.reset_settings()
        cases.reset_store()
        frame = cases.search("Drucker druckt nicht", os="windows")
        assert list(frame["source"]) == ["shared"] and list(frame["actions"]) == [["win.restart_service"]]
        assert cases.action_scores("Drucker druckt nicht", os="windows")["win.restart_service"]["score"] > 0


def test_missing_database_driver_names_the_package(monkeypatch: pytest.MonkeyPatch):
    import sys

    monkeypatch.setitem(sys.modules, "pymysql", None)  # as if PyMySQL were not installed
    with pytest.raises(AssistantError) as info:
        cases.SQLCaseStore("mysql+pymysql://root@127.0.0.1:3306/x")
    assert info.value.hint == "pip install 'pymysql'"


def test_a_case_in_both_stores_is_shown_once():
    """The backend returns the client's uuid as case_id: merged searches de-duplicate by it."""
    posted: list[dict] = []
    stored: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/api/cases":
            body = json.loads(request.content)
            posted.append(body)
            known = [c for c in stored if c["case_id"] == body.get("case_id")]
            if known:
                return httpx.Response(200, json=known[0])
            stored.append({"id": 100 + len(stored), "success_rate": 1.0, "times_tried": 1, "score": 1.0,
                           "relevance": 1.0, **body})
            return httpx.Response(201, json=stored[-1])
        if request.method == "GET" and request.url.path == "/api/cases/search":
            return httpx.Response(200, json=stored + [
                {"id": 7, "case_id": None, "symptom": "Kein Internet nach Update", "language": "de", "os": "windows",
                 "actions": ["win.flush_dns"], "outcome": "success", "score": 0.5, "relevance": 0.5,
                 "success_rate": 1.0, "times_tried": 1}])
        return httpx.Response(404, json={"detail": "not found"})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    local = cases.SQLCaseStore(f"sqlite:///{get_settings().cases_dir / 'cases.db'}")
    store = cases.LearningStore(local, cases.BackendCaseStore("https://techcare.example.com", "tck_t",
                                                              http_client=client))
    result = cases.record("Kein Internet im WLAN", actions=["win.reset_winsock"], outcome="success", os="windows",
                          language="de", store=store)
    assert posted[0]["case_id"] == result["id"]
    frame = cases.search("Kein Internet", os="windows", store=store)
    assert list(frame["id"]).count(result["id"]) == 1 and len(frame) == 2  # own case once + the colleague's case 7
    assert frame.set_index("id").loc[result["id"], "source"] == "local"
    assert frame.set_index("id").loc[7, "source"] == "shared"
    # only in the team store (e.g. recorded on another machine with the same uuid): shown from there
    local.dispose()
    other = cases.SQLCaseStore(f"sqlite:///{get_settings().cases_dir / 'other.db'}")
    frame = cases.search("Kein Internet", os="windows", store=cases.LearningStore(other, store.shared))
    assert len(frame) == 2 and set(frame["source"]) == {"shared"}
    other.dispose()


def test_case_scores_never_move_a_repair_before_the_one_it_needs(windows_diagnosis):
    """Issue 15 item 14: a successful reset_windows_update case must not put it before set_service_start_type —
    a disabled update service cannot be started by the reset."""
    cases.record("Windows Update lädt nicht", actions=["win.reset_windows_update"], outcome="success", os="windows",
                 language="de")
    cases.record("Windows Update hängt", actions=["win.set_service_start_type"], outcome="failure", os="windows",
                 language="de")
    reply = Assistant(engine="offline", diagnosis=windows_diagnosis, language="de").ask("Windows Update funktioniert nicht")
    order = [s.action_id for s in reply.plan.steps]
    assert order.index("win.set_service_start_type") < order.index("win.reset_windows_update"), order
    # the evidence still ranks what does not depend on anything: the knowledge's sfc/dism stay after the reset
    assert order.index("win.reset_windows_update") < order.index("win.sfc_scannow")
    assert reply.plan.steps[order.index("win.set_service_start_type")].params == {"name": "wuauserv",
                                                                               "start_type": "manual"}


def test_rank_actions_keeps_what_is_needed_first_and_lifts_it_with_the_evidence():
    entries = [{"action": a} for a in ("win.set_service_start_type", "win.reset_windows_update", "win.sfc_scannow",
                                       "win.create_restore_point", "win.flush_dns")]
    scores = {"win.reset_windows_update": {"score": 0.5}, "win.set_service_start_type": {"score": -0.4},
              "win.sfc_scannow": {"score": 0.2}}
    ranked = [e["action"] for e in cases.rank_actions(entries, scores, needs={1: {0}})]
    assert ranked == ["win.create_restore_point", "win.set_service_start_type", "win.reset_windows_update",
                      "win.sfc_scannow", "win.flush_dns"]
    # without the dependency the evidence alone decides (the failed start-type change goes last)
    assert [e["action"] for e in cases.rank_actions(entries, scores)][-1] == "win.set_service_start_type"
    # a chain is kept whole; entries that need each other fall back to the listed order
    chain = [e["action"] for e in cases.rank_actions(entries[:3], {"win.sfc_scannow": {"score": 0.9}},
                                                     needs={2: {1}, 1: {0}})]
    assert chain == ["win.set_service_start_type", "win.reset_windows_update", "win.sfc_scannow"]
    loop = [e["action"] for e in cases.rank_actions(entries[:2], {}, needs={0: {1}, 1: {0}})]
    assert loop == ["win.set_service_start_type", "win.reset_windows_update"]


def test_evidence_text_is_one_line_for_the_technician_and_the_model():
    scores = {"win.sfc_scannow": {"score": -0.5, "successes": 0.0, "failures": 1.6},
              "win.reset_windows_update": {"score": 0.4, "successes": 0.9, "failures": 0.0},
              "win.flush_dns": {"score": 0.0, "successes": 0.5, "failures": 0.5}}
    assert cases.evidence_text(scores, "de") == "geholfen: win.reset_windows_update; nicht geholfen: win.sfc_scannow"
    assert cases.evidence_text(scores, "en", weights=True) == (
        "worked: win.reset_windows_update (0.9 weighted successes); did not help: win.sfc_scannow (1.6 weighted failures)")
    assert cases.evidence_text({}, "en") == ""
