"""Open JupyterLab on the notebooks with the project's kernel: ``python -m sptseg_lib.tools.lab [ARGS]``.

What ``make lab`` runs. Before starting ``jupyter lab`` from this Python's environment it

* writes the kernel spec ``python3`` (the name the notebooks ask for) into a folder of this environment
  that goes first on ``JUPYTER_PATH``, its command this very interpreter: the notebooks run on the
  project's virtual environment, whatever other ``python3`` kernel the user has installed;
* turns off JupyterLab's news and update checks, whose "Would you like to get notified about official
  Jupyter news?" pop-up would otherwise cover the notebooks' figures: the settings
  ``fetchNews: "false"`` and ``checkForUpdates: false`` of the ``@jupyterlab/apputils-extension:notification``
  plugin, as defaults of this installation (``<app dir>/settings/overrides.d/sptseg.json``, JupyterLab's
  per-package overrides, so a user's own choice in the settings editor still wins), and on the server
  ``--LabApp.news_url=None`` and ``--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate``
  (JupyterLab's documented options, see its "Announcements" page);
* passes ``--ServerApp.allow_root=True``, so the same command works for root (a container) and a user.

JupyterLab opens on ``notebooks/`` of the checkout; every further argument goes to ``jupyter lab``
(``make lab LAB_ARGS="--port 8890 --no-browser"``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..runs import project_root

KERNEL_NAME = "python3"
NOTIFICATION_PLUGIN = "@jupyterlab/apputils-extension:notification"
NO_NEWS = {"fetchNews": "false", "checkForUpdates": False}
"""The notification plugin's settings that keep JupyterLab from asking about (and fetching) news."""
SERVER_OPTIONS = (
    "--ServerApp.allow_root=True",
    "--LabApp.news_url=None",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
)
OVERRIDES_FILE = "sptseg.json"


def kernel_path(prefix: str | Path = sys.prefix) -> Path:
    """The folder put first on ``JUPYTER_PATH``: it holds ``kernels/python3`` (this interpreter)."""
    return Path(prefix) / "share" / "sptseg-jupyter"


def write_kernel_spec(folder: Path, python: str = sys.executable) -> Path:
    """``folder/kernels/python3/kernel.json`` launching ``python``'s ipykernel; returns the file."""
    spec_dir = folder / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (sptseg)",
        "language": "python",
        "metadata": {"debugger": True},
    }
    path = spec_dir / "kernel.json"
    path.write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    return path


def write_overrides(app_dir: str | Path | None = None) -> Path:
    """The no-news defaults as ``<app dir>/settings/overrides.d/sptseg.json`` (default: JupyterLab's
    application directory of this environment); returns the file."""
    if app_dir is None:
        from jupyterlab.commands import get_app_dir

        app_dir = get_app_dir()
    folder = Path(app_dir) / "settings" / "overrides.d"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / OVERRIDES_FILE
    path.write_text(json.dumps({NOTIFICATION_PLUGIN: NO_NEWS}, indent=1) + "\n", encoding="utf-8")
    return path


def lab_environment(folder: Path, root: Path | None) -> dict[str, str]:
    """This process's environment with ``folder`` first on ``JUPYTER_PATH`` and the checkout on
    ``PYTHONPATH`` (the kernels import this ``sptseg_lib`` even without the editable install)."""
    env = dict(os.environ)
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(folder), env.get("JUPYTER_PATH")) if p)
    if root is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    env.pop("MPLBACKEND", None)  # the kernels must use the inline backend
    return env


def lab_command(root: Path | None, extra: Sequence[str] = ()) -> list[str]:
    """``python -m jupyterlab`` with :data:`SERVER_OPTIONS`, opening the checkout's ``notebooks/``."""
    command = [sys.executable, "-m", "jupyterlab", *SERVER_OPTIONS]
    if root is not None:
        command += [f"--ServerApp.root_dir={root}", "--LabApp.default_url=/lab/tree/notebooks"]
    return command + list(extra)


def main(argv: Sequence[str] | None = None) -> int:
    extra = list(sys.argv[1:] if argv is None else argv)
    if extra[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    root = project_root()
    folder = kernel_path()
    spec = write_kernel_spec(folder)
    overrides = write_overrides()
    print(f"lab: kernel {KERNEL_NAME} = {sys.executable} ({spec})")
    print(f"lab: no news or update pop-ups ({overrides})")
    command = lab_command(root, extra)
    sys.stdout.flush()
    os.execve(command[0], command, lab_environment(folder, root))  # jupyter lab itself from here on
    return 0  # pragma: no cover - execve does not return


if __name__ == "__main__":
    sys.exit(main())
