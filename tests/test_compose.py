"""docker-compose.yml runs what `make run` runs: same apps, ports and flags, real setting names.

There is no Docker engine here; `.ci/run` validates the file with `docker-compose config`, and
this test checks that it agrees with scripts/run_dev.py, the Makefile, the settings classes and
the Dockerfile, so a renamed module, port or variable cannot leave compose behind.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from auth_service.config import AuthSettings
from coolnotes.config import CoolNotesSettings
from resource_service.config import ResourceSettings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
# compose service -> the name scripts/run_dev.py gives the same process
APPS = {"auth": "auth", "resource": "resource", "coolnotes": "coolnotes"}
# Services behind the `edge` proxy (deploy/edge.nginx.conf), so `--scale` can run several.
EDGED = {"auth", "resource"}
SETTINGS: dict[str, type[BaseSettings]] = {
    "AUTH_": AuthSettings,
    "RESOURCE_": ResourceSettings,
    "COOLNOTES_": CoolNotesSettings,
}
# Which settings classes read a service's environment (the CLI steps run the auth service's code;
# the demo seed also reads COOLNOTES_PUBLIC_URL, CoolNotesApp's own name for its URL).
READERS = {
    "migrate": ["AUTH_"],
    "demo-seed": ["AUTH_", "COOLNOTES_"],
    "auth": ["AUTH_"],
    "resource": ["RESOURCE_"],
    "coolnotes": ["COOLNOTES_"],
}


def _run_dev() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_dev", ROOT / "scripts" / "run_dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _options(command: list[str]) -> dict[str, str]:
    """uvicorn's `--name=value` options as compose writes them."""
    return dict(arg[2:].split("=", 1) for arg in command if arg.startswith("--") and "=" in arg)


def _env_names(settings: type[BaseSettings]) -> set[str]:
    """Every environment variable a settings class reads: prefix + field name, or its aliases."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def _environment(service: str) -> dict[str, str]:
    env: dict[str, str] = SERVICES[service].get("environment", {})
    return env


@pytest.mark.parametrize("service", sorted(APPS))
def test_compose_service_runs_the_app_run_dev_runs(service: str) -> None:
    by_name = {name: (app, port, app_dir) for name, app, port, app_dir in _run_dev().SERVICES}
    app, port, app_dir = by_name[APPS[service]]
    command = SERVICES[service]["command"]
    options = _options(command)

    assert command[:3] == ["uvicorn", app, "--factory"]
    assert options["port"] == str(port)
    assert options.get("app-dir") == app_dir
    assert (options["host"], options["loop"], options["http"]) == ("0.0.0.0", "uvloop", "httptools")  # noqa: S104
    # The two services are reached from outside only through the edge proxy (so they can scale).
    published = SERVICES["edge" if service in EDGED else service]["ports"]
    # On this machine only unless PUBLISH_ADDRESS says otherwise (README "docker compose").
    assert f"${{PUBLISH_ADDRESS:-127.0.0.1}}:{port}:{port}" in published
    if service in EDGED:
        assert SERVICES[service]["expose"] == [str(port)] and "ports" not in SERVICES[service]
    assert f"http://127.0.0.1:{port}/" in " ".join(SERVICES[service]["healthcheck"]["test"])


@pytest.mark.parametrize("service", sorted(EDGED))
def test_compose_edge_proxies_to_every_instance_and_only_it_is_believed(service: str) -> None:
    port = _options(SERVICES[service]["command"])["port"]
    nginx = (ROOT / "deploy" / "edge.nginx.conf").read_text()
    edge_address = SERVICES["edge"]["networks"]["default"]["ipv4_address"]

    # Resolved per request through Docker's DNS, so scaled instances are all used.
    assert re.search(rf"listen {port};\s+location / {{\s+set \$\w+ http://{service}:{port};", nginx)
    assert "resolver 127.0.0.11" in nginx
    # /metrics is not published through the edge.
    metrics_closed = rf"listen {port};.*?location = /metrics {{\s+return 404;\s+}}\s+}}"
    assert re.search(metrics_closed, nginx, re.S)
    assert "--proxy-headers" in SERVICES[service]["command"]
    assert _options(SERVICES[service]["command"])["forwarded-allow-ips"] == edge_address
    assert "./deploy/edge.nginx.conf:/etc/nginx/nginx.conf:ro" in SERVICES["edge"]["volumes"]


def test_compose_edge_sends_hsts_over_https_only() -> None:
    nginx = (ROOT / "deploy" / "edge.nginx.conf").read_text()
    hsts = re.search(r"map \$scheme \$hsts \{\s+https \"([^\"]+)\";\s+default \"\";\s+\}", nginx)
    assert hsts is not None
    assert hsts.group(1) == "max-age=63072000; includeSubDomains"
    # In the http block, so every server inherits it; `always` covers error answers.
    assert re.search(r"^    add_header Strict-Transport-Security \$hsts always;$", nginx, re.M)
    assert nginx.count("add_header") == 1  # a server-level add_header would drop the inherited one


def test_compose_edge_address_is_in_the_subnet_but_outside_the_dynamic_range() -> None:
    def default(value: str) -> str:  # "${NAME:-default}" -> "default"
        match = re.fullmatch(r"\$\{[A-Z_]+:-([^}]+)\}", value)
        assert match is not None, value
        return match.group(1)

    (pool,) = COMPOSE["networks"]["default"]["ipam"]["config"]
    edge = ipaddress.ip_address(default(SERVICES["edge"]["networks"]["default"]["ipv4_address"]))
    subnet = ipaddress.ip_network(default(pool["subnet"]))
    dynamic = ipaddress.ip_network(default(pool["ip_range"]))

    # Otherwise a scaled instance could be given the trusted address first (docker/compose#11899).
    assert edge in subnet and dynamic.subnet_of(subnet)  # type: ignore[arg-type]
    assert edge not in dynamic


@pytest.mark.parametrize("service", ["auth", "resource"])
def test_compose_service_matches_the_makefile_target(service: str) -> None:
    makefile = (ROOT / "Makefile").read_text()
    options = _options(SERVICES[service]["command"])
    app = SERVICES[service]["command"][1]

    target = re.search(rf"^run-{service}:.*\n\t\S*uvicorn (\S+) --factory (.*)$", makefile, re.M)
    assert target is not None, f"no run-{service} target"
    flags = dict(re.findall(r"--([\w-]+) (\S+)", target.group(2)))
    assert target.group(1) == app
    assert {k: flags[k] for k in ("port", "loop", "http")} == {
        k: options[k] for k in ("port", "loop", "http")
    }


@pytest.mark.parametrize("service", sorted(READERS))
def test_compose_environment_names_are_real_settings(service: str) -> None:
    readers = [SETTINGS[prefix] for prefix in READERS[service]]
    known = set().union(*(_env_names(settings) for settings in readers))

    unknown = sorted(set(_environment(service)) - known)

    assert unknown == []


def test_compose_public_urls_agree_across_services() -> None:
    auth, resource = _environment("auth"), _environment("resource")
    coolnotes, seed = _environment("coolnotes"), _environment("demo-seed")

    issuer = auth["AUTH_ISSUER"]
    assert resource["RESOURCE_ISSUER"] == coolnotes["COOLNOTES_ISSUER"] == issuer
    assert resource["RESOURCE_AUDIENCE"] == auth["AUTH_RESOURCE_AUDIENCE"]
    # The seed registers redirect URIs for the URL the browser uses to reach CoolNotesApp.
    assert seed["COOLNOTES_PUBLIC_URL"] == coolnotes["COOLNOTES_PUBLIC_URL"]


def test_compose_back_channel_urls_name_compose_services_and_their_ports() -> None:
    coolnotes, resource = _environment("coolnotes"), _environment("resource")
    port = {name: _options(SERVICES[name]["command"])["port"] for name in ("auth", "resource")}

    assert coolnotes["COOLNOTES_ISSUER_INTERNAL_URL"] == f"http://auth:{port['auth']}"
    assert coolnotes["COOLNOTES_API_URL"] == f"http://resource:{port['resource']}"
    assert resource["RESOURCE_JWKS_URL"].startswith(f"http://auth:{port['auth']}/")
    assert resource["RESOURCE_REVOCATION_FEED_URL"].startswith(f"http://auth:{port['auth']}/")


def test_compose_demo_credentials_pass_through_a_volume_not_the_environment() -> None:
    seed, coolnotes = SERVICES["demo-seed"], SERVICES["coolnotes"]
    path = coolnotes["environment"]["COOLNOTES_CREDENTIALS_FILE"]
    directory = str(Path(path).parent)

    assert seed["command"][:3] == ["auth-service", "demo", "seed"]
    assert seed["command"][seed["command"].index("--credentials-file") + 1] == path
    assert f"demo:{directory}" in seed["volumes"]
    assert f"demo:{directory}:ro" in coolnotes["volumes"]
    assert coolnotes["depends_on"]["demo-seed"] == {"condition": "service_completed_successfully"}
    assert "demo" in COMPOSE["volumes"]


def test_compose_holds_no_secret_value() -> None:
    # Secrets come from the environment at `up` time (and fail loudly when unset), or are made at
    # run time like the demo client's; none is written in the file or baked into an image.
    reference = re.compile(r"^\$\{[A-Z_]+:\?[^}]*\}$")
    for name, service in SERVICES.items():
        for key, value in service.get("environment", {}).items():
            if re.search("PASSWORD|SECRET", key):
                assert reference.match(str(value)), (name, key)
            for password in re.findall(r"://[^:/@]+:([^@]+)@", str(value)):
                assert reference.match(password), (name, key)


def test_compose_build_targets_exist_in_the_dockerfile() -> None:
    stages = set(re.findall(r"^FROM \S+ AS (\S+)$", (ROOT / "Dockerfile").read_text(), re.M))
    targets = {s["build"]["target"] for s in SERVICES.values() if "build" in s}

    assert targets == {"app", "coolnotes"} and targets <= stages
