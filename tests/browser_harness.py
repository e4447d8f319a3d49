"""Drive a notebook in a real browser: JupyterLab on 127.0.0.1, headless Chromium through Playwright.

Used by ``tests/test_browser.py`` (a real-browser test): start ``jupyter lab`` from the running
Python's environment in an isolated temporary home, open a notebook, run all cells, move an ipywidgets
slider found by its ``description`` label and report whether the figure beside it changed.

The browser is Debian's ``/usr/bin/chromium`` (``.ci/install-browser.sh``); Playwright's own browser
download is never used. The figure is compared by its pixels: the bytes behind the ``<img>``'s ``src``
(a ``data:`` URL for matplotlib output, a ``blob:`` URL for an ``ipywidgets.Image``) are fetched in the
page and decoded, so a redraw that produces the same picture counts as unchanged.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from sptseg_lib.tools.lab import NO_NEWS, SERVER_OPTIONS

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

CHROMIUM = Path("/usr/bin/chromium")
# The flags the workplace's probe used: without the background-networking ones Chromium keeps trying
# to reach Google and the closed network refuses it.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
KERNEL_NAME = "python3"
# The kernel's launch command: the Python running the tests (the venv's), never a "python" from PATH.
KERNEL_ARGV = ("-m", "ipykernel_launcher", "-f", "{connection_file}")
# JupyterLab front-end settings: no news or update checks (no network here, and their pop-up would cover
# the figures; the same settings `make lab` uses, sptseg_lib/tools/lab.py), and every cell rendered (no
# windowing, which leaves cells outside the viewport out of the page).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": dict(NO_NEWS),
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
STDERR_MIME = "application/vnd.jupyter.stderr"
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\w+(Error|Exception)\b", re.MULTILINE)
PROMPT_NUMBER = re.compile(r"\[\s*\d+\s*\]")


class BrowserTestError(RuntimeError):
    """The server, the notebook or the widget did not behave; the message says what was seen."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def code_cells_to_run(notebook: Path) -> int:
    """The number of non-empty code cells of ``notebook`` (JupyterLab skips empty ones on "Run All")."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return sum(1 for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip())


def copy_notebook(notebook: Path, root: Path) -> Path:
    """Copy ``notebook`` into ``root`` without outputs, with the ``python3`` kernelspec in its metadata.

    Setting the kernelspec keeps JupyterLab from asking which kernel to start.
    """
    if not notebook.is_file():
        raise FileNotFoundError(f"notebook {notebook} does not exist")
    data = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in data["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    data.setdefault("metadata", {})["kernelspec"] = {
        "name": KERNEL_NAME,
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    target = root / notebook.name
    target.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return target


class JupyterLab:
    """``jupyter lab`` on ``127.0.0.1`` with a token, in a throw-away Jupyter home; a context manager.

    Args:
        root: the server's root folder (the notebooks it can open).
        home: an empty folder for Jupyter's config, data, runtime, settings and workspaces, and the log.
        env: extra environment variables for the server and its kernels (``None`` removes a variable).
        python: the interpreter that runs the server and the kernels (default: this one).
        startup_timeout: seconds to wait for the server to answer.
    """

    def __init__(
        self,
        root: Path,
        home: Path,
        env: Mapping[str, str | None] | None = None,
        python: str = sys.executable,
        startup_timeout: float = 90.0,
    ) -> None:
        self.root, self.home, self.python = Path(root), Path(home), python
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.log_path = self.home / "jupyterlab.log"
        self.env = self._environment(env or {})
        self.process: subprocess.Popen[bytes] | None = None

    def _environment(self, extra: Mapping[str, str | None]) -> dict[str, str]:
        dirs = {
            "JUPYTER_CONFIG_DIR": "config",
            "JUPYTER_DATA_DIR": "data",
            "JUPYTER_PATH": "path",
            "JUPYTER_RUNTIME_DIR": "runtime",
            "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
            "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
            "IPYTHONDIR": "ipython",
        }
        env = dict(os.environ)
        env.pop("MPLBACKEND", None)  # the kernel must use the inline backend, not a CI's Agg
        for name, sub in dirs.items():
            env[name] = str(self.home / sub)
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        env["JUPYTER_PLATFORM_DIRS"] = "1"
        for name, value in extra.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def _write_home(self) -> None:
        """The kernelspec (first on ``JUPYTER_PATH``, so it wins over any installed ``python3``) and the
        front-end settings."""
        spec_dir = Path(self.env["JUPYTER_PATH"]) / "kernels" / KERNEL_NAME
        spec_dir.mkdir(parents=True, exist_ok=True)
        spec = {
            "argv": [self.python, *KERNEL_ARGV],
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
        }
        (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
        settings = Path(self.env["JUPYTERLAB_SETTINGS_DIR"])
        for rel, value in LAB_SETTINGS.items():
            path = settings / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value), encoding="utf-8")

    def url(self, path: str = "lab") -> str:
        """The address of ``path`` on this server, with the token."""
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}{sep}token={self.token}"

    def api(self, path: str, method: str = "GET", timeout: float = 10.0) -> Any:
        """Call the server's REST API (``path`` below ``/api/``) and return the decoded JSON (or ``None``)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/{path.lstrip('/')}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def lab_setting(self, plugin: str, key: str) -> Any:
        """The value of setting ``key`` of front-end plugin ``plugin`` as JupyterLab will use it: the user's
        setting if there is one, else the default (which an installation's overrides may have changed)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/lab/api/settings/{plugin}",
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10.0) as response:
            data = json.loads(response.read())
        return data["settings"].get(key, data["schema"]["properties"][key].get("default"))

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's log (its stdout and stderr)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def start(self) -> JupyterLab:
        """Start the server and wait until its API answers."""
        self._write_home()
        command = [
            self.python,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root}",
            f"--IdentityProvider.token={self.token}",
            *SERVER_OPTIONS,  # as `make lab`: allow root, no news, no update checks
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.root,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kernels are stopped with it
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrowserTestError(
                    f"jupyter lab exited with code {self.process.returncode} while starting:\n"
                    + self.log_tail()
                )
            try:
                self.api("status", timeout=2.0)
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        self.stop()
        raise BrowserTestError(
            f"jupyter lab did not answer on port {self.port} within {self.startup_timeout:.0f} s:\n"
            f"{self.log_tail()}"
        )

    def kernels(self) -> list[dict[str, Any]]:
        """The running kernels (id, name, execution_state, ...).

        Listing kernels while one is starting can fail with a 500 (jupyter_server reads a kernel's
        ``last_activity`` before it is set): such an answer is retried.
        """
        for attempt in range(20):
            try:
                return self.api("kernels")
            except urllib.error.HTTPError as err:
                if err.code < 500 or attempt == 19:
                    raise
                time.sleep(0.25)
        raise AssertionError("unreachable")

    def wait_kernels_idle(self, timeout: float, settle: float = 1.0) -> None:
        """Wait until at least one kernel runs and every kernel has been idle for ``settle`` seconds."""
        deadline = time.monotonic() + timeout
        idle_since: float | None = None
        states: list[str] = []
        while time.monotonic() < deadline:
            states = [k["execution_state"] for k in self.kernels()]
            now = time.monotonic()
            if states and all(s == "idle" for s in states):
                idle_since = idle_since or now
                if now - idle_since >= settle:
                    return
            else:
                idle_since = None
            time.sleep(0.25)
        raise BrowserTestError(f"kernels not idle after {timeout:.0f} s (states: {states or 'no kernel'})")

    def stop(self) -> None:
        """Shut the kernels and the server down (politely, then by signal); safe to call twice."""
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                for kernel in self.kernels():
                    self.api(f"kernels/{kernel['id']}", method="DELETE")
                self.api("shutdown", method="POST")
                self.process.wait(timeout=15)
            except (OSError, urllib.error.URLError, subprocess.TimeoutExpired, ValueError):
                pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)  # the group: kernels left behind go too
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                continue
        self.process = None

    def __enter__(self) -> JupyterLab:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# ------------------------------------------------------------------------------------------ the page


def poll(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    """Call ``check`` until it returns something truthy and return it; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise BrowserTestError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def open_notebook(page: Page, lab: JupyterLab, name: str, timeout: float = 90.0) -> None:
    """Open ``name`` (relative to the server's root) and wait for its cells and an idle kernel."""
    page.goto(lab.url(f"lab/tree/{name}?reset"), wait_until="domcontentloaded")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(state="visible", timeout=timeout * 1000)
    select = page.locator(".jp-Dialog .jp-Dialog-button", has_text="Select")

    def kernel_started() -> bool:
        if select.count():  # "Select Kernel": the notebook names no kernel JupyterLab knows
            select.first.click()
        return bool(lab.kernels())

    poll(kernel_started, timeout, "a kernel to start")
    lab.wait_kernels_idle(timeout)


def error_outputs(page: Page) -> list[str]:
    """The text of every traceback shown in the page (JupyterLab renders errors as stderr outputs)."""
    stderr = page.locator(f'.jp-OutputArea-output[data-mime-type="{STDERR_MIME}"]').all_inner_texts()
    return [text for text in stderr if TRACEBACK.search(text)]


def run_all_cells(page: Page, lab: JupyterLab, expected: int, timeout: float, stall: float = 3.0) -> None:
    """Menu "Run > Run All Cells", then wait until ``expected`` code cells show an execution number, none
    is pending and the kernel is idle.

    When a cell fails, JupyterLab stops and un-queues the rest: once nothing has been pending and the
    kernels have been idle for ``stall`` seconds with fewer than ``expected`` numbered cells, this raises
    with the tracebacks shown in the page.
    """
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    prompts = page.locator(".jp-CodeCell .jp-InputArea-prompt")
    stalled_since: list[float] = []

    def finished() -> bool:
        texts = prompts.evaluate_all("nodes => nodes.map(n => n.textContent)")
        done = sum(1 for t in texts if PROMPT_NUMBER.search(t))
        pending = any("*" in t for t in texts)
        if done >= expected and not pending:
            return True
        if pending or any(k["execution_state"] != "idle" for k in lab.kernels()):
            stalled_since.clear()
        elif not stalled_since:
            stalled_since.append(time.monotonic())
        elif time.monotonic() - stalled_since[0] > stall:
            errors = "\n---\n".join(error_outputs(page)) or "(no traceback in the page)"
            raise BrowserTestError(
                f"Run All stopped after {done} of {expected} code cells; the tracebacks shown:\n"
                + errors[-3000:]
            )
        return False

    poll(finished, timeout, f"{expected} code cells to finish")
    lab.wait_kernels_idle(timeout)


def slider(page: Page, label: str) -> Locator:
    """The first ipywidgets slider whose ``description`` is ``label`` (a Playwright locator)."""
    name = page.locator(".widget-label", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    return page.locator(".widget-slider").filter(has=name).first


def output_area(control: Locator) -> Locator:
    """The cell output (one displayed widget) that holds ``control``."""
    return control.locator(
        "xpath=ancestor::div[contains(concat(' ', @class, ' '), ' jp-OutputArea-output ')]"
    ).first


def figure_near(control: Locator) -> Locator:
    """The first ``<img>`` in the same widget output as ``control`` (the explorer's figure)."""
    return output_area(control).locator("img").first


_FETCH_IMAGE = """async (img) => {
    const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
        text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return {src: img.src, data: btoa(text)};
}"""


@dataclass
class FigureSnapshot:
    """What the browser shows as the figure.

    Attributes:
        src: the ``<img>``'s ``src``.
        pixels: the image behind ``src``, decoded: ``(H, W, 4)`` uint8 RGBA.
        rendered: a screenshot of the ``<img>`` element as drawn on the page: ``(h, w, 3)`` uint8 RGB.
        screenshot: the saved screenshot of the whole widget (controls and figure), for people to look at.
    """

    src: str
    pixels: np.ndarray
    rendered: np.ndarray
    screenshot: Path


def snapshot(control: Locator, screenshot: Path, timeout: float = 30.0) -> FigureSnapshot:
    """Decode the figure beside ``control`` and screenshot the widget's output area into ``screenshot``."""
    img = figure_near(control)
    img.wait_for(state="visible", timeout=timeout * 1000)
    poll(lambda: img.evaluate("i => i.complete && i.naturalWidth > 0"), timeout, "the figure to load")
    fetched = img.evaluate(_FETCH_IMAGE)
    pixels = _decode(base64.b64decode(fetched["data"]), "RGBA")
    rendered = _decode(img.screenshot(), "RGB")
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    output_area(control).screenshot(path=str(screenshot))
    return FigureSnapshot(fetched["src"], pixels, rendered, screenshot)


def _decode(png: bytes, mode: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert(mode))


def differ(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two images differ in size or in any pixel."""
    return a.shape != b.shape or bool(np.any(a != b))


def readout(control: Locator) -> str:
    """The slider's value as the page shows it."""
    return control.locator(".widget-readout").first.inner_text().strip()


@dataclass
class SliderMove:
    """A slider moved in the browser: its readout and the figure before and after."""

    label: str
    readout_before: str
    readout_after: str
    before: FigureSnapshot
    after: FigureSnapshot

    @property
    def figure_changed(self) -> bool:
        """Whether the image behind the figure's ``src`` changed (another size counts as a change)."""
        return differ(self.before.pixels, self.after.pixels)

    @property
    def rendering_changed(self) -> bool:
        """Whether the figure as drawn on the page changed."""
        return differ(self.before.rendered, self.after.rendered)


def move_slider(
    page: Page,
    lab: JupyterLab,
    label: str,
    out_dir: Path,
    prefix: str,
    key: str = "ArrowRight",
    presses: int = 1,
    timeout: float = 60.0,
) -> SliderMove:
    """Focus the (upper) handle of the slider ``label``, press ``key`` ``presses`` times, wait for the
    redraw, and return both figures (screenshots: ``<out_dir>/<prefix>_before.png`` and ``_after.png``)."""
    control = slider(page, label)
    control.wait_for(state="visible", timeout=timeout * 1000)
    control.scroll_into_view_if_needed()
    before = snapshot(control, out_dir / f"{prefix}_before.png", timeout)
    value_before = readout(control)
    # Mark the current <img>: an Output widget redraws into a new element, an ipywidgets.Image changes
    # the src of the same one; either way the figure on screen is no longer this marked, unchanged one.
    figure_near(control).evaluate("i => { i.dataset.browserTestOld = i.src; }")
    handle = control.locator(".noUi-handle").last
    handle.focus()
    for _ in range(presses):
        handle.press(key)
    poll(lambda: readout(control) != value_before, timeout, f"the readout of {label!r} to change")
    poll(lambda: _figure_state(control) != "old", timeout, f"the figure beside {label!r} to be redrawn")
    _wait_stable(lambda: (readout(control), _figure_state(control)), lab, timeout)
    after = snapshot(control, out_dir / f"{prefix}_after.png", timeout)
    return SliderMove(label, value_before, readout(control), before, after)


def _figure_state(control: Locator) -> str:
    """``"old"`` while the marked figure is still shown unchanged, else the new figure's ``src``."""
    js = "i => (i.dataset.browserTestOld === i.src) ? 'old' : i.src"
    return figure_near(control).evaluate(js)


def _wait_stable(state: Callable[[], Any], lab: JupyterLab, timeout: float, quiet: float = 1.0) -> None:
    """Wait until the kernels are idle and ``state()`` has not changed for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        lab.wait_kernels_idle(max(deadline - time.monotonic(), 1.0), settle=0.5)
        current, now = state(), time.monotonic()
        if current != last:
            last, since = current, now
        elif now - since >= quiet:
            return
        time.sleep(0.25)
    raise BrowserTestError(f"the widget kept changing for {timeout:.0f} s after the slider moved")


# ------------------------------------------------------------------------------------ screenshots

NEWS_QUESTION = "official Jupyter news"
"""Words of JupyterLab's news pop-up ("Would you like to get notified about official Jupyter news?")."""


def popups(page: Page) -> list[str]:
    """The text of every toast notification and dialog the page shows (what could cover a figure)."""
    found = page.locator(".Toastify__toast, .jp-Notification-Toast, .jp-Dialog").all_inner_texts()
    return [text.strip() for text in found if text.strip()]


def showcase(page: Page) -> Locator:
    """What a screenshot of an executed notebook should show: the first explorer's figure, else the first
    figure among the outputs, else the first table, else the last output."""
    for selector in (
        ".sptseg-explorer-figure",
        ".jp-OutputArea-output img",
        ".jp-OutputArea-output table",
        ".jp-OutputArea-output",
    ):
        found = page.locator(selector)
        if found.count():
            return found.last if selector == ".jp-OutputArea-output" else found.first
    raise BrowserTestError("the notebook shows no output to take a picture of")


def screenshot_notebook(page: Page, path: Path, timeout: float = 30.0) -> Path:
    """Scroll the output holding :func:`showcase` to the top of the notebook, wait for its images to load,
    and save the browser window (JupyterLab with the notebook) as ``path``. Raises if a pop-up or dialog
    covers the page."""
    target = showcase(page)
    # The output holding it (an explorer's controls and figure, a figure, a table), at the top of the window.
    area = target.locator(
        "xpath=ancestor-or-self::div[contains(concat(' ', @class, ' '), ' jp-OutputArea-output ')]"
    ).first
    area.evaluate("e => e.scrollIntoView({block: 'start'})")
    images = area.locator("xpath=descendant-or-self::img")

    def loaded() -> bool:
        return all(img.evaluate("i => i.complete && i.naturalWidth > 0") for img in images.all())

    poll(loaded, timeout, "the figure to load")
    time.sleep(0.5)  # let JupyterLab settle after scrolling (lazy layout of the cells around)
    shown = popups(page)
    if shown:
        raise BrowserTestError(f"a pop-up covers the notebook: {shown}")
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    return path


def page_images(page: Page) -> list[dict[str, Any]]:
    """Every ``<img>`` of a (static) page: whether it loaded, its natural size, the start of its ``src``."""
    return page.evaluate(
        """() => Array.from(document.images).map(i => ({
            loaded: i.complete && i.naturalWidth > 0, width: i.naturalWidth, height: i.naturalHeight,
            src: i.src.slice(0, 40)}))"""
    )
