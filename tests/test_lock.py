"""``requirements.lock`` installs on every platform readers have: resolved (not installed) for each of the 12
platform / CPython pairs by uv, so that a lock that breaks macOS or Windows fails here with the pair named.

Each resolution takes the lock itself as its input: uv evaluates the lock's markers for the target, forces
every applicable pin, accepts wheels only (``--only-binary :all:``, what a reader's ``pip install`` would
need without a compiler) and adds whatever the pins still miss, which the test then names. Needs the
package index; offline, the test is skipped with one ``*** NOT RUN`` line.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"

PLATFORMS = {
    "Linux x86-64": "x86_64-unknown-linux-gnu",
    "Linux aarch64": "aarch64-unknown-linux-gnu",
    "macOS arm64": "aarch64-apple-darwin",
    "Windows x86-64": "x86_64-pc-windows-msvc",
}
PYTHONS = ("3.11", "3.12", "3.13")
MACOS_TARGET = "14.0"
"""torch 2.14's macOS wheels are ``macosx_14_0_arm64``: the oldest macOS the lock promises is 14 (Sonoma)."""

CUDA_PACKAGES = re.compile(r"^(nvidia-|cuda-|triton\b)")


def _uv() -> list[str]:
    """The uv of this environment (a dev dependency in the lock), else one on ``PATH``."""
    if subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True).returncode == 0:
        return [sys.executable, "-m", "uv"]
    found = shutil.which("uv")
    if found is None:
        pytest.fail("uv is missing (a dev dependency): pip install -r requirements.lock")
    return [found]


def _index_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
    except OSError:
        return False
    return True


def _pins(text: str) -> set[tuple[str, str]]:
    """``(name, version)`` of the ``name==version`` lines of a requirements text, markers dropped (a name
    may have several versions: one per Python range, say)."""
    pins = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins.add((re.sub(r"[-_.]+", "-", name).lower(), version))
    return pins


def _resolve(platform: str, python: str) -> subprocess.CompletedProcess[str]:
    command = [
        *_uv(),
        "pip",
        "compile",
        str(LOCK),
        "--python-platform",
        PLATFORMS[platform],
        "--python-version",
        python,
        "--only-binary",
        ":all:",
        "--no-header",
        "--no-annotate",
        "--quiet",
    ]
    env = {**os.environ, "MACOSX_DEPLOYMENT_TARGET": MACOS_TARGET}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def resolutions() -> dict[tuple[str, str], subprocess.CompletedProcess[str]]:
    if not _index_reachable():
        pytest.skip(
            "*** NOT RUN: the lock's resolution for 12 platform / Python pairs needs the package index "
            "(pypi.org), which this machine cannot reach"
        )
    pairs = [(p, v) for p in PLATFORMS for v in PYTHONS]
    with ThreadPoolExecutor(4) as pool:  # network-bound: a few at a time
        return dict(zip(pairs, pool.map(lambda pair: _resolve(*pair), pairs)))


def test_the_lock_is_a_universal_resolution_with_markers() -> None:
    text = LOCK.read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    for line in lines:
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[^\s;]+( ; .+)?", line), f"not an exact pin: {line!r}"
    cuda = [line for line in lines if CUDA_PACKAGES.match(line)]
    assert cuda, "the lock pins no CUDA package: PyPI's Linux torch needs them"
    unmarked = [line for line in cuda if "sys_platform == 'linux'" not in line]
    assert not unmarked, f"CUDA pins without a Linux-only marker (they break macOS, Windows): {unmarked}"
    assert {("torch", "2.14.1"), ("torchvision", "0.29.1")} <= _pins(text)


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_the_lock_resolves(resolutions, platform: str, python: str) -> None:
    result = resolutions[(platform, python)]
    pair = f"{platform} / CPython {python}"
    assert result.returncode == 0, f"requirements.lock does not resolve for {pair}:\n{result.stderr[-3000:]}"
    locked, resolved = _pins(LOCK.read_text()), _pins(result.stdout)
    missing = sorted(f"{n}=={v}" for n, v in resolved - locked)
    assert not missing, f"for {pair} the lock misses these pins (run make lock): {missing}"
    assert {("torch", "2.14.1"), ("torchvision", "0.29.1")} <= resolved
    cuda = sorted(n for n, _ in resolved if CUDA_PACKAGES.match(n))
    if platform.startswith("Linux"):
        assert cuda, f"{pair}: PyPI's Linux torch needs its CUDA packages"
    else:
        assert not cuda, f"{pair} would install CUDA packages: {cuda}"
