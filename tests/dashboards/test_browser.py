"""The dashboard in a real browser: ``journeys dashboard`` on loopback, Debian's Chromium driven
by Playwright, one screenshot per page (kept in tests/artifacts/dashboard/).

Chromium: ``/usr/bin/chromium``; when missing and running as root on Debian the fixture installs
Debian's ``chromium`` package. Without it: skipped (with the reason) outside CI, failed in CI.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "dashboard"
CHROMIUM = Path("/usr/bin/chromium")
# page url path (the default page is at the root) → what must be drawn before the screenshot
PAGES = {
    "": ['[data-testid="stMetric"]', ".js-plotly-plot"],
    "journeys": ['[data-testid="stGraphVizChart"] svg', ".js-plotly-plot"],
    "experiments": [".js-plotly-plot"],
    "attribution": [".js-plotly-plot"],
    "cohorts": ['[data-testid="stMetric"]', ".js-plotly-plot"],
    "deliverability": [".js-plotly-plot"],
    "data_quality": [".js-plotly-plot"],
    "customer": [".js-plotly-plot"],
}


def _missing_browser(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


def _apt_install(packages: list[str]) -> str | None:
    """``apt-get install`` (root on Debian only); the reason it could not, else None."""
    if os.geteuid() != 0 or not Path("/etc/debian_version").exists() or not shutil.which("apt-get"):
        return f"install Debian's {' '.join(packages)} (apt-get install {' '.join(packages)})"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
    ):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
        if done.returncode != 0:
            return f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}"
    return None


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed with apt-get when missing and we are root on Debian; with
    it Debian's Noto CJK fonts, so the zh-CN labels render as characters (a missing font is not
    a failure: only the Chinese glyphs would show as boxes)."""
    if not CJK_FONT.exists():
        _apt_install(["fonts-noto-cjk"])
    if CHROMIUM.exists():
        return CHROMIUM
    problem = _apt_install(["chromium"])
    if problem is not None:
        _missing_browser(f"{CHROMIUM} is missing; {problem}")
    if not CHROMIUM.exists():
        _missing_browser(f"apt-get installed chromium but {CHROMIUM} is still missing")
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(base: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"journeys dashboard exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as answer:
                if answer.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"the dashboard did not answer at {base} within {timeout:.0f} s")


@pytest.fixture
def served(analytics_store: Path) -> Iterator[str]:
    """``journeys dashboard --store <demo>`` on 127.0.0.1 and a free port; its base URL (the
    demo store with the analytics rows, so the experiment and CLV pages have figures)."""
    port = _free_port()
    journeys = Path(sys.executable).with_name("journeys")
    command = [str(journeys), "dashboard", "--store", str(analytics_store), "--port", str(port)]
    env = {**os.environ, "JOURNEYS_PROJECT": str(ROOT)}
    process = subprocess.Popen(
        [*command, "--project", str(ROOT)],
        start_new_session=True,  # its own process group: the teardown ends Streamlit with it
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process)
        yield base
    finally:
        process.terminate()  # journeys dashboard stops its Streamlit child on SIGTERM
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # anything left in the group


def _customer_id(store: Path) -> str:
    import sqlite3

    with sqlite3.connect(store) as conn:
        row = conn.execute(
            "select customer_id from events where name = 'message.sent' order by seq limit 1"
        ).fetchone()
    return str(row[0])


@pytest.mark.slow
def test_every_page_renders_in_chromium(chromium: Path, served: str, analytics_store: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for path, ready in PAGES.items():
                page.goto(f"{served}/{path}", wait_until="domcontentloaded")
                if path == "customer":
                    box = page.get_by_label("Customer id, email or phone")
                    box.wait_for(timeout=30_000)
                    box.fill(_customer_id(analytics_store))
                    box.press("Enter")
                for selector in ready:
                    page.locator(selector).first.wait_for(state="visible", timeout=30_000)
                expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(
                    0, timeout=30_000
                )
                assert page.locator('[data-testid="stException"]').count() == 0, path
                assert page.get_by_text("Page not found").count() == 0, path
                page.screenshot(path=str(ARTIFACTS / f"{path or 'overview'}.png"), full_page=True)
        finally:
            browser.close()
    for path in PAGES:
        assert (ARTIFACTS / f"{path or 'overview'}.png").stat().st_size > 10_000, path
