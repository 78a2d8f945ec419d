"""The release: `python -m build` makes an sdist and a wheel of the server and of the verifier
(packages/authserver-verify), and the two wheels, installed into a new virtual environment the
way deploy/ installs them, run on their own: no checkout on the path, the templates and
migrations from inside the package, the files where an installed release keeps them by
default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
import requests

from tests.server_process import ServerProcess

CHECKOUT = Path(__file__).resolve().parent.parent
VERIFIER = CHECKOUT / "packages" / "authserver-verify"

pytestmark = pytest.mark.skipif(
    os.environ.get("AUTHSERVER_TEST_BACKEND") == "postgresql",
    reason="the release is the same wheel in both passes: built and run once, in the SQLite pass",
)


def _run(*args: str | Path, cwd: Path, env: dict | None = None, timeout: int = 300) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


def _files_under(folder: str) -> set[str]:
    root = CHECKOUT / folder
    return {
        str(path.relative_to(CHECKOUT))
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    # --no-isolation: the build backend (hatchling) comes from the test extras rather than
    # from PyPI at test time. build makes the sdist, then the wheel from the unpacked sdist.
    out = tmp_path_factory.mktemp("dist")
    for project in (CHECKOUT, VERIFIER):
        _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, project, cwd=out)
    return out


def _only(folder: Path, pattern: str) -> Path:
    (found,) = folder.glob(pattern)
    return found


def test_the_wheel_carries_templates_static_files_and_migrations_and_no_tests(dist):
    names = set(zipfile.ZipFile(_only(dist, "authserver-*.whl")).namelist())
    for folder in ("templates", "migrations"):
        expected = {"authserver/" + name for name in _files_under(folder)}
        assert expected and expected <= names, sorted(expected - names)
    assert "authserver/static/site.css" in names
    assert "authserver/accounts/common_passwords.txt" in names
    stray = ("tests/", "bench/", "authserver_verify/")  # the verifier is its own wheel
    assert not [name for name in names if name.startswith(stray)]
    licence = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    assert licence, "the wheel must carry the licence text"


def test_the_verifier_wheel_is_the_verifier_alone(dist):
    wheel = zipfile.ZipFile(_only(dist, "authserver_verify-*.whl"))
    packages = {name.split("/")[0] for name in wheel.namelist() if "dist-info" not in name}
    assert packages == {"authserver_verify"}
    metadata = wheel.read(next(n for n in wheel.namelist() if n.endswith("/METADATA"))).decode()
    required = [line for line in metadata.splitlines()
                if line.startswith("Requires-Dist:") and "extra ==" not in line]  # fmt: skip
    assert required == ["Requires-Dist: joserfc>=1.3"]


def test_the_sdist_holds_what_rebuilding_the_wheel_needs(dist):
    sdist = _only(dist, "authserver-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for needed in ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "SECURITY.md"):
        assert needed in names
    assert _files_under("migrations") <= names and _files_under("templates") <= names


def test_the_installed_wheel_initialises_serves_and_issues_a_token(dist, tmp_path):
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    # The install deploy/ documents: the wheel and its dependencies from the package index.
    pip_env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    wheels = [_only(dist, "authserver_verify-*.whl"), _only(dist, "authserver-*.whl")]
    _run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", *wheels,
         cwd=tmp_path, env=pip_env, timeout=600)  # fmt: skip
    server = ServerProcess.installed(tmp_path, str(venv / "bin" / "authserver"))

    where = _run(venv / "bin" / "python", "-c", "import authserver; print(authserver.__file__)",
                 cwd=tmp_path, env=server.env)  # fmt: skip
    assert Path(where.strip()).is_relative_to(venv), where
    version = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["project"]["version"]
    assert server.cli("--version").strip() == f"authserver, version {version}"

    server.cli("init")
    # An installed release keeps its files under <prefix>/var/authserver-instance by default.
    instance = venv / "var" / "authserver-instance"
    assert (instance / "authserver.db").is_file() and (instance / "keys" / "kek").is_file()

    server.cli("roles", "create", "orders-reader", "--scope", "orders:read")
    client = json.loads(server.cli(
        "clients", "create", "--name", "release", "--scope", "orders:read",
        "--role", "orders-reader", "--json",
    ))  # fmt: skip
    with server.running(workers=1):
        page = requests.get(server.issuer + "/login", timeout=10)
        assert page.status_code == 200 and "<form" in page.text  # a template from the wheel
        answer = requests.post(
            server.issuer + "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "orders:read"},
            auth=(client["client_id"], client["client_secret"]),
            timeout=10,
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"] == "orders:read"
