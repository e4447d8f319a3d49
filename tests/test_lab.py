"""`make lab`: JupyterLab on the notebooks, the project's kernel, no news pop-up, as root or as a user."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from sptseg_lib.tools import lab

ROOT = Path(__file__).resolve().parents[1]


def test_kernel_spec_and_overrides_are_written(tmp_path: Path) -> None:
    spec = json.loads(lab.write_kernel_spec(tmp_path / "k", python="/venv/bin/python").read_text())
    assert spec["argv"][:3] == ["/venv/bin/python", "-m", "ipykernel_launcher"]
    assert (tmp_path / "k" / "kernels" / "python3" / "kernel.json").is_file()
    overrides = lab.write_overrides(tmp_path / "app")
    assert overrides == tmp_path / "app" / "settings" / "overrides.d" / "sptseg.json"
    assert json.loads(overrides.read_text()) == {
        "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}
    }


def test_command_works_as_root_and_opens_the_notebooks(tmp_path: Path) -> None:
    command = lab.lab_command(ROOT, ["--port", "9999"])
    assert command[:3] == [sys.executable, "-m", "jupyterlab"]
    assert "--ServerApp.allow_root=True" in command  # harmless for a user, needed for root
    assert "--LabApp.news_url=None" in command
    assert f"--ServerApp.root_dir={ROOT}" in command and command[-2:] == ["--port", "9999"]
    env = lab.lab_environment(tmp_path, ROOT)
    assert env["JUPYTER_PATH"].split(os.pathsep)[0] == str(tmp_path)
    assert str(ROOT) in env["PYTHONPATH"].split(os.pathsep)


def _get(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


@pytest.mark.timeout(180)
def test_lab_serves_the_project_kernel_without_news(tmp_path: Path) -> None:
    """The real server `make lab` starts: its ``python3`` kernel is this interpreter even when the user has
    another ``python3`` kernel installed, and the news setting defaults to "never"."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    home = tmp_path / "home"
    user_kernel = home / "data" / "kernels" / "python3"
    user_kernel.mkdir(parents=True)
    elsewhere = {
        "argv": ["/usr/bin/false", "-f", "{connection_file}"],
        "display_name": "other",
        "language": "python",
    }
    (user_kernel / "kernel.json").write_text(json.dumps(elsewhere))
    env = dict(os.environ)
    for name, sub in [
        ("HOME", "."),
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
    ]:
        env[name] = str(home / sub)
    env.pop("JUPYTER_PATH", None)
    token = "sptseg-test"
    args = [
        "--no-browser",
        f"--ServerApp.port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
    ]
    log = (tmp_path / "lab.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "sptseg_lib.tools.lab", *args],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                specs = _get(f"{base}/api/kernelspecs", token)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("jupyter lab did not start:\n" + (tmp_path / "lab.log").read_text()[-3000:])
                time.sleep(0.5)
        assert specs["kernelspecs"]["python3"]["spec"]["argv"][0] == sys.executable
        settings = _get(f"{base}/lab/api/settings/{lab.NOTIFICATION_PLUGIN}", token)
        assert settings["schema"]["properties"]["fetchNews"]["default"] == "false"
        assert settings["schema"]["properties"]["checkForUpdates"]["default"] is False
        assert _get(f"{base}/api/contents/notebooks", token)["type"] == "directory"  # root: the checkout
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
