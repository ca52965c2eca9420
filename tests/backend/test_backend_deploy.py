"""compose.yaml and backend/Dockerfile, checked without a Docker engine.

Building and running the image (``docker compose up --build``) needs a Docker engine, which machines of this kind do
not have; these tests verify everything that can be verified without one:

* compose.yaml: the three services (postgres:16, redis:7-alpine, the backend built from backend/Dockerfile), a
  healthcheck on each, named volumes, ``depends_on ... service_healthy``; every secret is required
  (``${NAME:?message}``: no default, no literal, compose refuses to start without it); the backend's environment
  names are settings the backend reads, and the resolved environment loads as a valid production configuration.
* backend/Dockerfile: a non-root USER that owns the data directory, a HEALTHCHECK on /api/health, a CMD that runs
  ``techcare-backend migrate`` and only then ``techcare-backend serve`` (arguments the CLI accepts), no baked-in
  secrets.
* The image's dependency list: the build context is assembled as Docker would send it (the Dockerfile's
  .dockerignore and COPY lines), the package is built from it as ``pip install --no-deps .`` builds it, and a
  subprocess runs the CMD (``migrate``, then ``serve`` on a free port, plus ``keys generate`` and the PostgreSQL and
  Redis client set-up) from that build while a ``sys.meta_path`` finder records the distribution of every
  top-level module imported and makes every distribution the image would not have (outside the Dockerfile's
  requirement list and its transitive requirements) unimportable. Any such import by the backend fails the test,
  naming the distribution; an optional import inside a library (cryptography's bcrypt, Mako's pygments) is
  tolerated only because the run succeeds without it. The healthcheck commands run against that server.
* pyproject's ``server`` extra is covered by the image (httptools and uvloop through ``uvicorn[standard]``).

``KNOWN_GAPS`` names distributions a known, accepted defect leaves out of the image (none at present; this file
found the image missing jinja2, which the dashboard imports).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import textwrap
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

# packaging is a dependency of pytest itself, so it is always there.
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "compose.yaml"
DOCKERFILE = REPO / "backend" / "Dockerfile"
PYPROJECT = REPO / "pyproject.toml"

SECRETS = ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "ADMIN_TOKEN", "JWT_SIGNING_KEY", "LICENSE_KEY_SECRET")
NOT_A_SETTING = {"WORKERS"}  # read by the Dockerfile's CMD (``--workers ${WORKERS:-2}``), not by the backend
BACKEND_PACKAGES = ("techcare", "techcare_backend")

# Defects in backend/Dockerfile found by these tests and reported, not fixed (other people are editing the backend).
# Canonical distribution name -> what is wrong. Remove an entry once it is fixed (test_known_gaps_are_still_open).
KNOWN_GAPS: dict[str, str] = {}


# ---- compose.yaml --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose_text() -> str:
    return COMPOSE_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def compose(compose_text: str) -> dict[str, Any]:
    return yaml.safe_load(compose_text)


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # ``- NAME=value`` form
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


_INTERPOLATION = re.compile(r"\$\$|\$\{(?P<braced>[^}]*)\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?\Z", re.S)


class MissingVariable(Exception):
    pass


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation (``$$``, ``${X}``, ``${X:-d}``, ``${X-d}``, ``${X:?m}``, ``${X?m}``, ``$X``)."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        if match.group("bare"):
            return env.get(match.group("bare"), "")
        parsed = _BRACED.match(match.group("braced"))
        assert parsed, f"unparseable interpolation {match.group(0)!r}"
        name, op, arg = parsed.group("name"), parsed.group("op"), parsed.group("arg") or ""
        current = env.get(name)
        empty = not current
        if op in (":?", "?") and (current is None if op == "?" else empty):
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and (current is None if op == "-" else empty):
            return arg
        if op in (":+", "+"):
            return arg if (current is not None if op == "+" else not empty) else ""
        return current or ""

    return _INTERPOLATION.sub(one, value)


def test_compose_services_images_and_build(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "backend"}
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7-alpine"
    build = services["backend"]["build"]
    assert isinstance(build, dict), "backend.build must name the context and the Dockerfile"
    assert build["context"] == "."
    assert build["dockerfile"] == "backend/Dockerfile"
    assert (REPO / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE


def test_every_compose_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        check = service.get("healthcheck")
        assert isinstance(check, dict) and not check.get("disable"), f"{name}: no healthcheck"
        test = check.get("test")
        assert test and test not in (["NONE"], "NONE"), f"{name}: empty healthcheck"
        if isinstance(test, list):
            assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, f"{name}: {test!r}"
    services = compose["services"]
    pg_env = _environment(services["postgres"])
    pg_check = " ".join(services["postgres"]["healthcheck"]["test"][1:])
    assert "pg_isready" in pg_check
    assert f"-U {pg_env['POSTGRES_USER']}" in pg_check and f"-d {pg_env['POSTGRES_DB']}" in pg_check
    redis_check = " ".join(services["redis"]["healthcheck"]["test"][1:])
    assert "ping" in redis_check and "PONG" in redis_check
    # ``$$REDIS_PASSWORD`` reaches the container's shell as $REDIS_PASSWORD: the container must have it
    for service_name, service in services.items():
        for var in re.findall(r"\$\$\{?([A-Za-z_][A-Za-z0-9_]*)", json.dumps(service.get("healthcheck"))):
            assert var in _environment(service), f"{service_name}: the healthcheck uses ${var}, not in its environment"
    backend_check = services["backend"]["healthcheck"]["test"]
    assert backend_check[:3] == ["CMD", "python", "-c"] and "/api/health" in backend_check[3]


def test_compose_named_volumes_are_declared_and_used(compose: dict[str, Any], dockerfile: Dockerfile) -> None:
    declared = set(compose.get("volumes") or {})
    assert declared, "no top-level named volumes"
    used: dict[str, dict[str, str]] = {}
    for name, service in compose["services"].items():
        for volume in service.get("volumes") or []:
            if isinstance(volume, dict):
                source, target, kind = volume.get("source"), volume.get("target"), volume.get("type", "volume")
            else:
                source, _, rest = str(volume).partition(":")
                target, kind = rest.partition(":")[0], "bind" if source.startswith((".", "/", "~")) else "volume"
            assert kind == "volume", f"{name}: {volume!r} is a bind mount, not a named volume"
            assert source in declared, f"{name}: volume {source!r} is not declared under the top-level volumes"
            used.setdefault(name, {})[target] = source
    unused = declared - {s for mounts in used.values() for s in mounts.values()}
    assert not unused, f"declared volumes no service uses: {sorted(unused)}"
    assert "/var/lib/postgresql/data" in used.get("postgres", {}), "PostgreSQL data is not on a named volume"
    assert "/data" in used.get("redis", {}), "Redis data (appendonly) is not on a named volume"
    data_dir = dockerfile.runtime_env["TECHCARE_DATA_DIR"]
    assert data_dir in used.get("backend", {}), f"the backend's TECHCARE_DATA_DIR {data_dir} is not on a named volume"


def test_backend_waits_for_healthy_postgres_and_redis(compose: dict[str, Any]) -> None:
    depends = compose["services"]["backend"]["depends_on"]
    assert isinstance(depends, dict), "depends_on needs the long form to wait for health"
    for name in ("postgres", "redis"):
        assert depends.get(name, {}).get("condition") == "service_healthy", name


def test_compose_secrets_are_required_never_defaulted(compose_text: str, compose: dict[str, Any]) -> None:
    problems: list[str] = []
    seen: dict[str, int] = dict.fromkeys(SECRETS, 0)
    for match in _INTERPOLATION.finditer(compose_text):
        if match.group(0) == "$$":
            continue
        line = compose_text.count("\n", 0, match.start()) + 1
        if match.group("bare") in SECRETS:
            problems.append(f"line {line}: {match.group(0)} (unbraced, no :? check)")
            continue
        parsed = _BRACED.match(match.group("braced") or "")
        if not parsed or parsed.group("name") not in SECRETS:
            continue
        seen[parsed.group("name")] += 1
        if parsed.group("op") != ":?" or not (parsed.group("arg") or "").strip():
            problems.append(f"line {line}: {match.group(0)} (must be ${{{parsed.group('name')}:?message}})")
    # every other occurrence of a secret's name is inside such an interpolation, a key, a comment or a $$-escape
    # (the container's shell expands it, from the container's environment)
    spans = [m.span() for m in _INTERPOLATION.finditer(compose_text) if m.group(0).startswith("${")]
    for name in SECRETS:
        for match in re.finditer(rf"\b{name}\b", compose_text):
            if any(start < match.start() < end for start, end in spans):
                continue
            line_start = compose_text.rfind("\n", 0, match.start()) + 1
            line_text = compose_text[line_start:compose_text.find("\n", match.start())]
            before = compose_text[line_start:match.start()]
            if line_text.lstrip().startswith("#") or before.endswith(("$$", "$${")):
                continue
            if re.match(rf"\s*{name}\s*:", line_text) or re.match(rf"\s*-\s*{name}\s*=", line_text):
                continue
            problems.append(f"{name} used outside an interpolation: {line_text.strip()!r}")
    # a literal value (or an empty one) under an environment key
    for service_name, service in compose["services"].items():
        for key, value in _environment(service).items():
            if key in SECRETS and not re.fullmatch(rf"\$\{{{key}:\?[^}}]+\}}", value):
                problems.append(f"{service_name}: {key}={value!r} is not ${{{key}:?message}}")
    assert not problems, "secrets must be required (${NAME:?message}):\n" + "\n".join(problems)
    assert all(seen.values()), f"secrets never interpolated: {[k for k, v in seen.items() if not v]}"
    # compose refuses to start when any one of them is missing (interpolation fails)
    full = {name: "x" * 32 for name in SECRETS}
    interpolate(compose_text, full)
    for name in SECRETS:
        with pytest.raises(MissingVariable, match=name):
            interpolate(compose_text, {k: v for k, v in full.items() if k != name})
        with pytest.raises(MissingVariable, match=name):
            interpolate(compose_text, {**full, name: ""})


def _settings_env_names() -> tuple[set[str], bool]:
    """The environment names BackendSettings reads, and whether they are case-sensitive."""
    from pydantic import AliasChoices, AliasPath

    from techcare_backend.core.config import BackendSettings

    config = BackendSettings.model_config
    prefix = config.get("env_prefix") or ""
    names: set[str] = set()
    for field_name, info in BackendSettings.model_fields.items():
        alias = info.validation_alias or info.alias
        if alias is None:
            names.add(prefix + field_name)  # pydantic-settings: the prefix applies to plain field names only
        else:
            for choice in alias.choices if isinstance(alias, AliasChoices) else [alias]:
                names.add(str(choice.path[0]) if isinstance(choice, AliasPath) else str(choice))
    case_sensitive = bool(config.get("case_sensitive", False))
    return ({n for n in names} if case_sensitive else {n.upper() for n in names}), case_sensitive


def test_backend_environment_names_are_backend_settings(compose: dict[str, Any], dockerfile: Dockerfile) -> None:
    names, case_sensitive = _settings_env_names()
    env = _environment(compose["services"]["backend"])
    unknown = [k for k in env if k not in NOT_A_SETTING and (k if case_sensitive else k.upper()) not in names]
    assert not unknown, f"compose sets backend variables that BackendSettings does not read: {unknown}"
    for key in NOT_A_SETTING & set(env):
        assert "${" + key in dockerfile.cmd_script, f"{key} is neither a setting nor used by the Dockerfile's CMD"
    unknown_image_env = [k for k in dockerfile.runtime_env if k.startswith("TECHCARE_") and k.upper() not in names
                         and k != "TECHCARE_ENV_FILE"]  # read by load_backend_settings, not a field
    assert not unknown_image_env, unknown_image_env


def test_compose_environment_loads_as_valid_production_settings(
        compose: dict[str, Any], dockerfile: Dockerfile, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Resolve the backend's environment as compose does (real secrets in .env, defaults otherwise) and load it."""
    from techcare_backend.core.config import generate_secrets, load_backend_settings

    names, _ = _settings_env_names()
    for name in names | NOT_A_SETTING:
        monkeypatch.delenv(name, raising=False)
    dot_env = {**generate_secrets(), "POSTGRES_PASSWORD": "pg-" + "a1" * 12, "REDIS_PASSWORD": "rd-" + "b2" * 12}
    resolved = {k: interpolate(v, dot_env) for k, v in _environment(compose["services"]["backend"]).items()}
    for key, value in {**dockerfile.runtime_env, **resolved}.items():
        if key != "PATH":
            monkeypatch.setenv(key, value)
    settings = load_backend_settings(env_file=tmp_path / "absent.env")
    assert not settings.development and not settings.embedded
    password = dot_env["POSTGRES_PASSWORD"]
    assert settings.sqlalchemy_url == f"postgresql+psycopg://techcare:{password}@postgres:5432/techcare"
    assert settings.redis_url == f"redis://:{dot_env['REDIS_PASSWORD']}@redis:6379/0"
    assert settings.admin_token == dot_env["ADMIN_TOKEN"]
    assert settings.license_key_secret == dot_env["LICENSE_KEY_SECRET"]
    assert len(settings.verification_keys) == 1  # JWT_EXTRA_PUBLIC_KEYS defaults to none
    assert settings.trust_proxy_headers is False
    assert not settings.should_migrate, "with DATABASE_URL the CMD's `techcare-backend migrate` does the migration"
    assert str(settings.techcare_data_dir) == dockerfile.runtime_env["TECHCARE_DATA_DIR"]
    compose_db = _environment(compose["services"]["postgres"])
    assert f"{compose_db['POSTGRES_USER']}:" in resolved["DATABASE_URL"]
    assert resolved["DATABASE_URL"].endswith("/" + compose_db["POSTGRES_DB"])


# ---- backend/Dockerfile --------------------------------------------------------------------------------------------
@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


@dataclass
class Dockerfile:
    stages: list[Stage]
    no_deps_install: list[str]  # the arguments of ``pip install --no-deps ...``
    requirements: list[Requirement]  # the explicit requirement list
    pip: str  # the pip that installs them

    @property
    def build(self) -> Stage:
        return self.stages[0]

    @property
    def runtime(self) -> Stage:
        return self.stages[-1]

    @property
    def runtime_env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for args in self.runtime.all("ENV"):
            for item in shlex.split(args):
                key, _, value = item.partition("=")
                env[key] = value
        return env

    @property
    def cmd(self) -> list[str]:
        (cmd,) = self.runtime.all("CMD")[-1:]
        return json.loads(cmd)

    @property
    def cmd_script(self) -> str:
        cmd = self.cmd
        assert cmd[:2] == ["sh", "-c"] and len(cmd) == 3, f"CMD is not ['sh', '-c', script]: {cmd}"
        return cmd[2]


def parse_dockerfile(text: str) -> Dockerfile:
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        if raw.strip().startswith("#"):
            continue  # comments, also inside continued instructions
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1] + " "
            continue
        current += raw
        if current.strip():
            logical.append(current.strip())
        current = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            parts = args.split()
            stages.append(Stage(base=parts[0], name=parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None))
        else:
            assert stages, f"{keyword} before FROM"
            stages[-1].instructions.append((keyword, args))
    assert len(stages) >= 2, "expected a build stage and a runtime stage"
    no_deps: list[str] = []
    requirements: list[Requirement] = []
    pip = ""
    for run in stages[0].all("RUN"):
        tokens = shlex.split(run)
        commands: list[list[str]] = [[]]
        for token in tokens:
            if token in ("&&", ";"):
                commands.append([])
            else:
                commands[-1].append(token)
        for argv in commands:
            if len(argv) >= 2 and Path(argv[0]).name == "pip" and argv[1] == "install":
                args = argv[2:]
            elif len(argv) >= 4 and argv[1:4] == ["-m", "pip", "install"]:
                args = argv[4:]
            else:
                continue
            positional = [a for a in args if not a.startswith("-")]
            if "--no-deps" in args:
                no_deps.extend(positional)
            else:
                assert not requirements, "several dependency installs: the test reads one list"
                requirements = [Requirement(a) for a in positional]
                pip = argv[0]
    return Dockerfile(stages=stages, no_deps_install=no_deps, requirements=requirements, pip=pip)


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def test_dockerfile_installs_the_package_without_deps_then_the_list(dockerfile: Dockerfile) -> None:
    assert dockerfile.no_deps_install == ["."], "the build stage must `pip install --no-deps .` (WORKDIR: the source)"
    assert dockerfile.requirements, "no explicit requirement list in the build stage"
    assert dockerfile.pip.startswith("/opt/venv/"), dockerfile.pip
    copies = [args for args in dockerfile.runtime.all("COPY") if "--from=" in args]
    assert any("/opt/venv" in args for args in copies), "the runtime stage does not copy the build's venv"
    assert dockerfile.runtime_env["PATH"].startswith("/opt/venv/bin:"), "the venv's bin is not first on PATH"
    assert dockerfile.build.base == dockerfile.runtime.base, "build and runtime stages use different Python images"


def test_dockerfile_runtime_stage_runs_as_non_root_owning_the_data_dir(dockerfile: Dockerfile) -> None:
    users = dockerfile.runtime.all("USER")
    assert users, "the runtime stage has no USER (runs as root)"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"USER {users[-1]}"
    runs = " && ".join(dockerfile.runtime.all("RUN"))
    assert re.search(rf"useradd\b[^&]*\b{re.escape(user)}\b", runs), f"user {user} is not created"
    data_dir = dockerfile.runtime_env["TECHCARE_DATA_DIR"]
    assert re.search(rf"chown\s+(-R\s+)?{re.escape(user)}(:\S+)?\s+{re.escape(data_dir)}\b", runs), (
        f"{data_dir} (TECHCARE_DATA_DIR, the named volume) is not owned by {user}")
    # no secret is baked into the image
    for keyword in ("ENV", "ARG"):
        for args in dockerfile.build.all(keyword) + dockerfile.runtime.all(keyword):
            assert not any(secret in args for secret in SECRETS), f"{keyword} {args}"


def test_dockerfile_healthcheck_hits_api_health(dockerfile: Dockerfile) -> None:
    checks = dockerfile.runtime.all("HEALTHCHECK")
    assert checks, "no HEALTHCHECK in the runtime stage"
    options, _, command = checks[-1].partition("CMD ")
    assert command, f"HEALTHCHECK without CMD: {checks[-1]}"
    argv = shlex.split(command)
    assert argv[:2] == ["python", "-c"] and "http://127.0.0.1:8000/api/health" in argv[2], argv
    assert "--timeout=" in options and "--start-period=" in options


def test_dockerfile_cmd_migrates_then_serves(dockerfile: Dockerfile) -> None:
    from techcare_backend.cli import build_parser

    script = dockerfile.cmd_script
    migrate_at, serve_at = script.find("techcare-backend migrate"), script.find("techcare-backend serve")
    assert 0 <= migrate_at < serve_at, f"CMD must run `techcare-backend migrate` before `... serve`: {script!r}"
    between = script[migrate_at:serve_at]
    assert "&&" in between and "||" not in between and ";" not in between, (
        f"serve must only start when migrate succeeded: {script!r}")
    migrate_argv, serve_argv = cmd_commands(script, workers="2")
    parser = build_parser()
    assert parser.parse_args(migrate_argv[1:]).revision == "head"
    serve = parser.parse_args(serve_argv[1:])
    assert (serve.host, serve.port, serve.workers) == ("0.0.0.0", 8000, 2)
    assert "EXPOSE 8000" in {f"EXPOSE {a}" for a in dockerfile.runtime.all("EXPOSE")}
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    assert project["scripts"]["techcare-backend"] == "techcare_backend.cli:main"


def cmd_commands(script: str, *, workers: str) -> tuple[list[str], list[str]]:
    """The CMD's ``migrate`` and ``serve`` command lines (``${WORKERS:-2}`` resolved)."""
    commands = [shlex.split(interpolate(part, {"WORKERS": workers}).replace("exec ", "", 1))
                for part in re.split(r"&&|;|\|\|", script)]
    migrate = [c for c in commands if c[:2] == ["techcare-backend", "migrate"]]
    serve = [c for c in commands if c[:2] == ["techcare-backend", "serve"]]
    assert len(migrate) == 1 and len(serve) == 1, (
        f"CMD needs one `techcare-backend migrate` and one `techcare-backend serve`: {script!r}")
    return migrate[0], serve[0]


# ---- the image's dependency list -----------------------------------------------------------------------------------
def image_marker_environment(dockerfile: Dockerfile) -> dict[str, str]:
    """Marker values in the image: Linux, CPython of the Dockerfile's base image tag."""
    match = re.fullmatch(r"python:(\d+)\.(\d+)(?:\.(\d+))?(?:-\S+)?", dockerfile.runtime.base)
    assert match, f"unexpected base image {dockerfile.runtime.base}"
    major, minor, micro = match.group(1), match.group(2), match.group(3) or "0"
    env = dict(default_environment())
    env.update(python_version=f"{major}.{minor}", python_full_version=f"{major}.{minor}.{micro}",
               implementation_name="cpython", platform_python_implementation="CPython", sys_platform="linux",
               platform_system="Linux", os_name="posix")
    return env


def requirement_closure(requirements: list[Requirement], environment: dict[str, str]) -> set[str]:
    """Canonical names of ``requirements`` and of everything they require, recursively (extras included; metadata
    of the installed distributions; a requirement that is not installed here contributes only its own name)."""
    extras_of: dict[str, set[str]] = {}
    stack = list(requirements)
    while stack:
        req = stack.pop()
        name = canonicalize_name(req.name)
        if name in extras_of and set(req.extras) <= extras_of[name]:
            continue
        extras = extras_of.setdefault(name, set())
        extras.update(req.extras)
        try:
            declared = importlib.metadata.requires(req.name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in declared:
            sub = Requirement(text)
            if sub.marker is None or any(sub.marker.evaluate({**environment, "extra": extra})
                                         for extra in {"", *extras}):
                stack.append(sub)
    return set(extras_of)


@pytest.fixture(scope="module")
def image_closure(dockerfile: Dockerfile) -> set[str]:
    return requirement_closure(dockerfile.requirements, image_marker_environment(dockerfile))


def _server_extra() -> list[Requirement]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    return [Requirement(text) for text in project["optional-dependencies"]["server"]]


def test_server_extra_is_covered_by_the_image(dockerfile: Dockerfile, image_closure: set[str]) -> None:
    listed = {canonicalize_name(r.name): r for r in dockerfile.requirements}
    uvicorn = listed.get("uvicorn")
    assert uvicorn is not None and "standard" in uvicorn.extras, "the Dockerfile must install uvicorn[standard]"
    uncovered: list[str] = []
    for req in _server_extra():
        name = canonicalize_name(req.name)
        if name in ("httptools", "uvloop"):
            # uvicorn[standard] brings them (on Linux); checked against uvicorn's own metadata
            assert name in image_closure, f"uvicorn[standard] does not bring {name} (uvicorn's metadata)"
            continue
        if name not in image_closure and name not in KNOWN_GAPS:
            uncovered.append(str(req))
    assert not uncovered, (
        f"pyproject's `server` extra needs {uncovered}, which backend/Dockerfile neither lists nor gets "
        "through a listed requirement")


def test_dockerfile_requirements_match_pyproject(dockerfile: Dockerfile) -> None:
    """A distribution listed in both keeps the version floor and at least pyproject's extras (no drift)."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    declared = {canonicalize_name(r.name): r for r in map(Requirement, project["dependencies"])}
    declared.update({canonicalize_name(r.name): r for r in _server_extra()})
    drift = []
    for req in dockerfile.requirements:
        other = declared.get(canonicalize_name(req.name))
        if other is not None and (req.specifier != other.specifier or not other.extras <= req.extras):
            drift.append(f"Dockerfile {req} vs pyproject {other}")
    assert not drift, drift


# ---- the build context, the built package and the import probe ---------------------------------------------------
def _dockerignore_rules(path: Path) -> list[tuple[bool, re.Pattern[str], str]]:
    rules = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        literal = re.split(r"[*?\[]", pattern)[0]
        rules.append((negate, re.compile(regex + r"\Z"), literal))
    return rules


def _excluded(rel: str, rules: list[tuple[bool, re.Pattern[str], str]]) -> bool:
    """Docker's .dockerignore: the last matching pattern wins; a pattern matching a parent directory matches."""
    parts = rel.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    result = False
    for negate, regex, _ in rules:
        if any(regex.match(c) for c in candidates):
            result = not negate
    return result


def build_context_files(dockerfile_path: Path) -> list[str]:
    """Files (relative to the repository root) that ``docker build -f backend/Dockerfile .`` sends."""
    ignore = Path(str(dockerfile_path) + ".dockerignore")
    if not ignore.exists():
        ignore = REPO / ".dockerignore"
    rules = _dockerignore_rules(ignore) if ignore.exists() else []
    reincluded = [literal for negate, _, literal in rules if negate]
    files: list[str] = []
    for root, dirs, names in os.walk(REPO):
        rel_root = Path(root).relative_to(REPO).as_posix()
        rel_root = "" if rel_root == "." else rel_root + "/"
        keep = []
        for d in dirs:
            rel = rel_root + d
            could_return = any(lit.startswith(rel + "/") or rel.startswith(lit) or lit == "" for lit in reincluded)
            if not _excluded(rel, rules) or could_return:
                keep.append(d)
        dirs[:] = keep
        files.extend(rel_root + n for n in names if not _excluded(rel_root + n, rules))
    return files


def assemble_build_source(dockerfile: Dockerfile, target: Path) -> None:
    """The build stage's WORKDIR after its COPY lines, from the context Docker would send."""
    context = build_context_files(DOCKERFILE)
    workdir = PurePosixPath(dockerfile.build.all("WORKDIR")[-1])
    for args in dockerfile.build.all("COPY"):
        assert "--from" not in args
        *sources, dest = shlex.split(args)
        dest_path = (workdir / dest) if not dest.startswith("/") else PurePosixPath(dest)
        assert str(dest_path).startswith(str(workdir)), f"COPY outside WORKDIR {workdir}: {args}"
        rel_dest = os.path.relpath(str(dest_path), str(workdir))
        for source in sources:
            source = source.rstrip("/").removeprefix("./")
            matched = [f for f in context if f == source or f.startswith(source + "/")]
            assert matched, f"COPY {source}: not in the build context (backend/Dockerfile.dockerignore)"
            for rel in matched:
                if rel == source:  # a file: into the destination directory (or as the destination)
                    out = target / rel_dest / Path(rel).name if (dest.endswith("/") or len(sources) > 1) \
                        else target / rel_dest
                else:  # a directory: its contents into the destination
                    out = target / rel_dest / rel[len(source) + 1:]
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / rel, out)


@pytest.fixture(scope="module")
def built_package(dockerfile: Dockerfile, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``pip install --no-deps .`` puts into site-packages: setuptools' build_py on the assembled source."""
    work = tmp_path_factory.mktemp("image-build")
    source, lib = work / "src", work / "lib"
    assemble_build_source(dockerfile, source)
    proc = subprocess.run([sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py", "-d",
                           str(lib)], cwd=source, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, f"building the package from the Docker build context failed:\n{proc.stderr}"
    return lib


def test_built_package_ships_every_package_file(built_package: Path) -> None:
    """Templates, static files and migrations reach the image (package data of `pip install --no-deps .`)."""
    missing = []
    for rel in build_context_files(DOCKERFILE):
        for prefix, package in (("techcare/", "techcare/"), ("backend/techcare_backend/", "techcare_backend/")):
            if rel.startswith(prefix) and "__pycache__" not in rel and not rel.endswith(".pyc"):
                if not (built_package / package / rel[len(prefix):]).exists():
                    missing.append(rel)
    assert not missing, f"files `pip install --no-deps .` would leave out of the image: {missing}"
    assert (built_package / "techcare_backend" / "dashboard" / "templates" / "login.html").exists()
    assert list((built_package / "techcare_backend" / "alembic" / "versions").glob("*.py"))


PROBE = textwrap.dedent('''
    """Run the image's commands with only the image's distributions importable; print what was imported."""
    import importlib.metadata, json, os, re, signal, subprocess, sys, threading, time, traceback, urllib.error
    import urllib.request

    CONFIG = json.loads(open(sys.argv[1], encoding="utf-8").read())
    ALLOWED = set(CONFIG["allowed"])


    def canon(name):
        return re.sub(r"[-_.]+", "-", name).lower()


    DISTS = {top: sorted({canon(d) for d in ds}) for top, ds in importlib.metadata.packages_distributions().items()}
    PRELOADED = {name.partition(".")[0] for name in sys.modules}  # the interpreter's own start-up
    IMPORTS = {}


    def importer():
        frame = sys._getframe(2)
        while frame is not None:
            name = frame.f_globals.get("__name__") or "?"
            if not (frame.f_code.co_filename.startswith("<frozen importlib") or name == "importlib"
                    or name.startswith("importlib.")):
                return name
            frame = frame.f_back
        return "?"


    class Recorder:
        @classmethod
        def find_spec(cls, fullname, path=None, target=None):
            top = fullname.partition(".")[0]
            if top in PRELOADED or top in sys.stdlib_module_names or top not in DISTS or "techcare" in DISTS[top]:
                return None
            entry = IMPORTS.setdefault(top, {"dists": DISTS[top], "importers": set(), "blocked": False})
            who = importer()
            if who.partition(".")[0] != top:
                entry["importers"].add(who)
            if not ALLOWED.intersection(DISTS[top]):
                entry["blocked"] = True
                raise ModuleNotFoundError(f"No module named {fullname!r} (not installed in the image)", name=fullname)
            return None


    result = {"error": None, "steps": {}, "http": {}, "healthchecks": {}, "files": {}}
    stop = threading.Event()


    def get(path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{CONFIG['port']}{path}", timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code


    def run_healthchecks(state):
        for name, code in CONFIG["healthchecks"].items():
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=20)
            result["healthchecks"].setdefault(name, {})[state] = proc.returncode


    def check():
        deadline = time.monotonic() + 30
        while not stop.is_set():
            try:
                get("/api/health")
                break
            except OSError:
                if time.monotonic() > deadline:
                    result["http"]["error"] = "the server did not answer within 30 s"
                    os.kill(os.getpid(), signal.SIGINT)
                    return
                time.sleep(0.05)
        else:
            return
        try:
            for path in CONFIG["paths"]:
                result["http"][path] = get(path)
            run_healthchecks("up")
        except BaseException:
            result["http"]["error"] = traceback.format_exc()
        finally:
            os.kill(os.getpid(), signal.SIGINT)  # uvicorn shuts down gracefully


    sys.meta_path.insert(0, Recorder)
    checker = threading.Thread(target=check, daemon=True)
    try:
        import alembic
        import techcare_backend
        import techcare_backend.main
        from techcare_backend import cli
        result["files"]["techcare_backend"] = techcare_backend.__file__
        # PostgreSQL + Redis mode without contacting either: the dialect imports psycopg, the cache builds clients
        import psycopg
        import redis
        import redis.asyncio
        import uvicorn.supervisors  # serve --workers N (PostgreSQL mode) runs uvicorn's multiprocess supervisor
        import snowballstemmer  # crud imports it on first use (case search)
        from techcare_backend.core.cache import make_cache
        from techcare_backend.core.db import make_engine
        make_engine(CONFIG["postgres_url"]).dispose()
        make_cache(CONFIG["redis_url"], "probe:").close()
        result["steps"]["keys generate"] = cli.main(["keys", "generate", "--env-file", CONFIG["keys_env_file"]])
        result["steps"]["migrate"] = cli.main(CONFIG["migrate"])
        checker.start()
        try:
            result["steps"]["serve"] = cli.main(CONFIG["serve"])
        except KeyboardInterrupt:
            result["steps"]["serve"] = 130
        run_healthchecks("down")
    except BaseException:
        result["error"] = traceback.format_exc()
    finally:
        stop.set()
        if checker.is_alive():
            checker.join(10)
        sys.meta_path.remove(Recorder)
    result["imports"] = {top: {**e, "importers": sorted(e["importers"])} for top, e in IMPORTS.items()}
    print("@@PROBE@@" + json.dumps(result))
''')


@dataclass
class ProbeResult:
    raw: dict[str, Any]
    stderr: str
    closure: set[str]
    package: Path

    @property
    def imports(self) -> dict[str, dict[str, Any]]:
        return self.raw["imports"]

    def outside_image(self) -> dict[str, set[str]]:
        """Distribution -> importing modules, for imports the image could not satisfy."""
        found: dict[str, set[str]] = {}
        for entry in self.imports.values():
            if not self.closure.intersection(entry["dists"]):
                for dist in entry["dists"]:
                    found.setdefault(dist, set()).update(entry["importers"])
        return found

    def backend_imports_outside_image(self) -> dict[str, set[str]]:
        return {dist: who for dist, who in self.outside_image().items()
                if any(w.partition(".")[0] in (*BACKEND_PACKAGES, "__main__")  # __main__: the probe itself
                       or w.startswith("env_py")  # alembic's name for the migration environment (env.py)
                       for w in who)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def probe(dockerfile: Dockerfile, compose: dict[str, Any], image_closure: set[str], built_package: Path,
          tmp_path_factory: pytest.TempPathFactory) -> ProbeResult:
    work = tmp_path_factory.mktemp("image-probe")
    (work / "app").mkdir()
    port = _free_port()
    migrate, serve = cmd_commands(dockerfile.cmd_script, workers="2")
    serve = [("127.0.0.1" if a == "0.0.0.0" else str(port) if a == "8000" else a) for a in serve]
    healthchecks = {"Dockerfile HEALTHCHECK": shlex.split(dockerfile.runtime.all("HEALTHCHECK")[-1].partition(
        "CMD ")[2])[2], "compose backend healthcheck": compose["services"]["backend"]["healthcheck"]["test"][3]}
    config = {
        "allowed": sorted(image_closure | set(KNOWN_GAPS)),  # known gaps stay importable: check everything else
        "migrate": migrate[1:], "serve": serve[1:], "port": port,
        "paths": ["/api/health", "/dashboard/login", "/dashboard/static/dashboard.css"],
        "healthchecks": {k: v.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for k, v in healthchecks.items()},
        "postgres_url": "postgresql+psycopg://techcare:probe@127.0.0.1:9/techcare",
        "redis_url": "redis://:probe@127.0.0.1:9/0", "keys_env_file": str(work / "keys.env"),
    }
    (work / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (work / "probe.py").write_text(PROBE, encoding="utf-8")
    settings_names, _ = _settings_env_names()
    env = {k: v for k, v in os.environ.items()
           if k.upper() not in settings_names | NOT_A_SETTING | {"PYTHONPATH", "TECHCARE_ENV_FILE"}}
    env.update({k: v for k, v in dockerfile.runtime_env.items() if k != "PATH"})
    env.update(PYTHONPATH=str(built_package), TECHCARE_ENV="development", TECHCARE_DATA_DIR=str(work / "data"),
               PYTHONDONTWRITEBYTECODE="1", TECHCARE_LANG="en")
    proc = subprocess.run([sys.executable, str(work / "probe.py"), str(work / "config.json")], cwd=work / "app",
                          env=env, capture_output=True, text=True, timeout=120)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("@@PROBE@@")]
    assert proc.returncode == 0 and lines, f"the probe crashed (rc {proc.returncode}):\n{proc.stderr[-4000:]}"
    return ProbeResult(raw=json.loads(lines[-1].removeprefix("@@PROBE@@")), stderr=proc.stderr,
                       closure=image_closure, package=built_package)


def test_image_runs_the_backend_with_only_its_listed_distributions(probe: ProbeResult) -> None:
    raw = probe.raw
    backend = probe.backend_imports_outside_image()
    listing = {kind: "; ".join(f"{dist} (imported by {', '.join(sorted(who))})" for dist, who in sorted(found.items())
                               if dist not in KNOWN_GAPS) or "-"
               for kind, found in (("backend", backend), ("libraries", {
                   d: w for d, w in probe.outside_image().items() if d not in backend}))}
    assert raw["error"] is None, (
        "the backend failed in a process where only the image's distributions are importable. Not installed by "
        f"backend/Dockerfile: {listing['backend']}; imported by libraries: {listing['libraries']}\n{raw['error']}")
    assert Path(raw["files"]["techcare_backend"]).is_relative_to(probe.package), (
        "the probe did not run the package built for the image")
    steps = raw["steps"]
    assert steps["keys generate"] == 0 and steps["migrate"] == 0, steps
    assert steps["serve"] in (0, 130), steps  # 130: uvicorn re-raises the SIGINT that stopped it
    assert "error" not in raw["http"], raw["http"]["error"]
    assert raw["http"] == {"/api/health": 200, "/dashboard/login": 200, "/dashboard/static/dashboard.css": 200}, (
        f"HTTP answers of the backend run from the image's package: {raw['http']}")


def test_image_installs_every_distribution_the_backend_imports(probe: ProbeResult) -> None:
    missing = {d: who for d, who in probe.backend_imports_outside_image().items() if d not in KNOWN_GAPS}
    probe_name = "the image CMD / PostgreSQL mode"
    assert not missing, "backend/Dockerfile does not install " + "; ".join(
        f"{dist} (imported by {', '.join(sorted(w.replace('__main__', probe_name) for w in who))})"
        for dist, who in sorted(missing.items()))
    seen = {d for e in probe.imports.values() for d in e["dists"]}
    expected = {"fastapi", "starlette", "pydantic", "pydantic-settings", "sqlalchemy", "alembic", "psycopg", "redis",
                "uvicorn", "snowballstemmer", "cryptography"}
    assert expected <= seen, f"the import recorder missed {sorted(expected - seen)}"


def test_healthchecks_pass_against_the_running_backend(probe: ProbeResult) -> None:
    assert probe.raw["error"] is None, "the backend did not run (test_image_runs_the_backend_with_only_its_listed_...)"
    checks = probe.raw["healthchecks"]
    assert set(checks) == {"Dockerfile HEALTHCHECK", "compose backend healthcheck"}
    for name, outcome in checks.items():
        assert outcome.get("up") == 0, f"{name} failed against a healthy backend: {outcome}"
        assert outcome.get("down") not in (None, 0), f"{name} passed with the backend stopped: {outcome}"
