"""The real app for the browser tests and the upload benchmark.

:func:`build_store` fills a store folder with the demo patient (``DEMO-001``,
from ``sample_images/``), the demo accounts, and a second patient
``OTHER-002`` with one visit of generated photos and a patient account of
their own. :class:`AppServer` runs ``streamlit run app.py`` on a free
loopback port against that store; :func:`launch_chromium` starts Debian's
Chromium through Playwright; :func:`sign_in` signs a page in.

Nothing here is a stand-in: the server is the real Streamlit app, the store
a real SQLite store, the browser a real Chromium.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tracker.demo import DEMO_ACCOUNTS, add_demo_accounts, load_demo_patient
from tracker.store import NewPhoto, Store
from tracker.synth import render_closeup, render_overview

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
ADMIN_PASSWORD = "e2e-admin-password"
OTHER_CODE = "OTHER-002"
OTHER_VISIT = dt.date(2026, 2, 3)
#: The second patient's own sign-in (username, password).
OTHER_ACCOUNT = ("other.patient", "other-patient-pw")
#: username and password of each demo role.
ROLE_LOGIN = {role: (user, password) for user, password, role in DEMO_ACCOUNTS}


def encode(rgb: np.ndarray, ext: str, quality: int = 92) -> bytes:
    """RGB pixels as PNG or JPEG bytes (``ext`` is ``'.png'`` or ``'.jpg'``)."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext == ".jpg" else []
    ok, buffer = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {ext} image")
    return buffer.tobytes()


def closeup_photo(seed: int, shape: tuple[int, int] = (600, 800), ext: str = ".png", **options) -> bytes:
    """A generated close-up (``shape`` is height, width) encoded as ``ext``."""
    return encode(render_closeup(seed=seed, shape=shape, **options).image, ext)


def add_other_patient(store: Store) -> None:
    """``OTHER-002``: one visit with a PNG close-up and a JPEG overview, and a patient account."""
    store.add_patient(OTHER_CODE, name="Other Example", user="e2e")
    visit = store.add_visit(OTHER_CODE, OTHER_VISIT, notes="Generated.", user="e2e")
    store.add_photos(
        visit.id,
        [
            NewPhoto(
                view="closeup:vertex",
                data=closeup_photo(seed=902, density_per_cm2=260.0, skin="medium"),
                name="other-closeup.png",
                px_per_mm=250.0,
                scale_source="magnification",
            ),
            NewPhoto(
                view="crown",
                data=encode(render_overview(seed=903, shape=(600, 800), coverage=0.45).image, ".jpg"),
                name="other-crown.jpg",
            ),
        ],
        user="e2e",
    )
    store.add_account(*OTHER_ACCOUNT, "patient", patient=OTHER_CODE, user="e2e")


def build_store(location: Path) -> None:
    """Fill the store folder ``location``: demo patient and accounts, ``OTHER-002``."""
    store = Store.open(location, user="e2e")
    try:
        load_demo_patient(store, REPO / "sample_images")
        add_demo_accounts(store)
        add_other_patient(store)
    finally:
        store.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class AppServer:
    """``streamlit run app.py`` on a free loopback port, against the store folder ``store``.

    Use as a context manager (start, wait until healthy; stop on exit), or
    call :meth:`start`, :meth:`wait_healthy` and :meth:`stop`: the server runs
    no page before a browser connects, so the store may be filled between
    start and wait. Its output is kept in ``log``, next to the store folder.
    """

    store: Path
    startup_timeout: float = 90.0

    def __post_init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(self.store).parent / f"streamlit-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> AppServer:  # noqa: PYI034 - a dataclass, not subclassed
        self.start()
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start ``streamlit run app.py`` (returns at once)."""
        env = dict(os.environ, TRACKER_STORE=str(self.store), TRACKER_ADMIN_PASSWORD=ADMIN_PASSWORD)
        env.pop("DATABASE_URL", None)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "streamlit", "run", "app.py",
                    "--server.headless", "true",
                    "--server.port", str(self.port),
                    "--server.address", "127.0.0.1",
                    "--browser.gatherUsageStats", "false",
                    "--server.fileWatcherType", "none",
                ],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_healthy(self) -> None:
        """Wait until ``/_stcore/health`` answers ok; raise RuntimeError with the log if not."""
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as reply:
                    if reply.read().decode().strip() == "ok":
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"streamlit did not answer {self.url}/_stcore/health within "
                           f"{self.startup_timeout:g} s:\n{self.output()}")

    def output(self) -> str:
        """What the server printed so far (the last 5000 characters)."""
        return self.log.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 15 s)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def launch_chromium(playwright):
    """Debian's Chromium, headless, through Playwright (its own browser download is not used)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def sign_in(page, base_url: str, username: str, password: str, *, path: str = "", timeout: float = 30_000) -> None:
    """Open ``base_url/path`` in ``page``, submit the sign-in form, wait until signed in.

    Before sign-in only the sign-in page exists, so opening another page's
    address (``path='timeline?patient=X'``) shows Streamlit's "Page not found"
    note over the sign-in page, which is closed here. The query is kept and
    the role's first page opens with it after sign-in. Waits until the
    sidebar says who is signed in.
    """
    from playwright.sync_api import expect

    page.goto(f"{base_url}/{path}")
    form = page.get_by_test_id("stForm")
    expect(form).to_be_visible(timeout=timeout)
    not_found = page.get_by_role("dialog").filter(has_text="Page not found")
    if not_found.count():
        not_found.get_by_role("button", name="Close").click()
        expect(not_found).to_have_count(0)
    form.get_by_role("textbox", name="Username").fill(username)
    form.get_by_role("textbox", name="Password").fill(password)
    form.get_by_role("button", name="Sign in").click()
    signed_in = page.get_by_test_id("stSidebar").get_by_text(re.compile(f"Signed in as {re.escape(username)}"))
    expect(signed_in).to_be_visible(timeout=timeout)


def settle(page, timeout: float = 90_000) -> None:
    """Wait until the app's script run has ended, no spinner is left and every image has loaded.

    Only meaningful once the page shows what the caller waited for: right
    after a click the next run may not have started yet.
    """
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout)
    expect(page.get_by_test_id("stSpinner")).to_have_count(0, timeout=timeout)
    page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=timeout)


def save_screenshot(page, name: str, *, wait: bool = True) -> Path:
    """A full-page screenshot to ``test-artifacts/screenshots/<name>.png``, once the page has settled.

    Streamlit scrolls inside its main container, not the document, so the
    viewport is made as tall as the content for the shot, then restored.
    """
    if wait:
        settle(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    height = page.evaluate(
        """() => Math.max(...[...document.querySelectorAll(
            '[data-testid=stMain], [data-testid=stAppViewContainer], [data-testid=stSidebarContent], body'
        )].map(e => e.scrollHeight))"""
    )
    size = page.viewport_size or {"width": 1400, "height": 1000}
    page.set_viewport_size({"width": size["width"], "height": min(max(height, size["height"]), 12_000)})
    try:
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(size)
    return path
