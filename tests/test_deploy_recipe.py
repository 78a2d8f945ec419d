"""deploy/'s recipe agrees with itself and with the server: compose.yaml is valid YAML naming
the services it promises, its instances get the settings the systemd env example sets, nginx
in it is given every placeholder of deploy/nginx/authserver.conf, every AUTHSERVER_* name in
deploy/ is a setting, the unit passes `systemd-analyze verify`, and the Containerfile installs
the wheel as tests/test_release.py does. nginx serving the recipe is
tests/e2e/test_deploy_nginx.py."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from authserver.platform.config import _ENV_VARS

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
UNIT = DEPLOY / "systemd" / "authserver.service"
ENV_EXAMPLE = DEPLOY / "systemd" / "authserver.env.example"
INSTALLED = "/opt/authserver/bin/authserver"


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def env_example() -> dict[str, str]:
    lines = ENV_EXAMPLE.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_compose_has_the_services_in_their_order():
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "init", "authserver-1", "authserver-2", "nginx"}
    assert services["init"]["command"] == ["init"]
    assert services["init"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("authserver-1", "authserver-2"):
        instance = services[name]
        assert instance["depends_on"]["init"]["condition"] == "service_completed_successfully"
        assert "ports" not in instance  # reachable through nginx only
        assert instance["command"][0] == "serve"
    nginx = services["nginx"]
    template = "./nginx/authserver.conf:/etc/nginx/templates/authserver.conf.template:ro"
    assert template in nginx["volumes"]
    recipe = (DEPLOY / "nginx" / "authserver.conf").read_text()
    assert set(nginx["environment"]) == set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", recipe))


def test_the_instances_get_the_settings_the_systemd_env_example_sets():
    services = compose()["services"]
    example = env_example()
    assert example["AUTHSERVER_ENV"] == "production"
    assert example["AUTHSERVER_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert example["AUTHSERVER_REDIS_URL"].startswith("redis://")
    for name in ("init", "authserver-1", "authserver-2"):
        assert set(services[name]["environment"]) == set(example), name


def test_every_setting_deploy_names_is_one_the_server_reads():
    named = set()
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            named |= set(re.findall(r"\bAUTHSERVER_[A-Z0-9_]+", path.read_text()))
    unknown = named - set(_ENV_VARS)
    assert not unknown, sorted(unknown)


def test_the_containerfile_installs_the_wheel_as_the_release_test_does():
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Containerfile").read_text())  # joined lines
    assert "FROM python:3.11-slim" in text
    assert "python -m venv /opt/authserver" in text
    # Both wheels, as tests/test_release.py installs them: the verifier is the server's dependency.
    assert re.search(r"/opt/authserver/bin/pip install [^\n]*/tmp/authserver_verify-\*\.whl "
                     r"/tmp/authserver-\*\.whl", text)  # fmt: skip
    (user,) = re.findall(r"^USER (\S+)$", text, re.MULTILINE)
    assert user not in ("root", "0")
    assert "EXPOSE 5000" in text
    assert f'CMD ["{INSTALLED}", "serve", "--host", "0.0.0.0"]' in text
    assert f"{INSTALLED} init && exec" in text  # init first, then the command


def test_the_systemd_unit_runs_init_then_serve_confined():
    lines = UNIT.read_text().splitlines()
    directives = dict(line.split("=", 1) for line in lines if "=" in line and line[0] != "#")
    assert directives["ExecStartPre"] == f"{INSTALLED} init"
    assert directives["ExecStart"] == f"{INSTALLED} serve --host 127.0.0.1 --port 5000 --workers 2"
    assert directives["EnvironmentFile"] == "/etc/authserver/authserver.env"
    expected = {
        "DynamicUser": "yes", "StateDirectory": "authserver", "ProtectSystem": "strict",
        "ProtectHome": "yes", "PrivateTmp": "yes", "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "LimitNOFILE": "8192",
    }  # fmt: skip
    assert {name: directives.get(name) for name in expected} == expected
    # ProtectSystem=strict: the files the server writes must be in its state folder.
    example = env_example()
    for name in ("AUTHSERVER_METRICS_DIR", "AUTHSERVER_RATE_LIMIT_FILE"):
        assert example[name].startswith("/var/lib/authserver/"), name


def test_the_systemd_unit_passes_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is missing (Debian's systemd package)")
    # The release is not installed here: a stand-in executable at another path.
    stand_in = tmp_path / "authserver"
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    unit = tmp_path / "authserver.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED, str(stand_in)))
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    # verify exits 0 on unknown keys and bad values, but names them.
    assert done.returncode == 0 and not done.stderr.strip(), done.stdout + done.stderr
