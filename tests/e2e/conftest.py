"""End-to-end tests: Debian's Chromium, driven by Playwright (pytest-playwright), against the
real application (gunicorn, the stream server, a real SMTP server) on a database of its own.

Chromium is ``/usr/bin/chromium`` (``apt-get install chromium``; ``.ci/run`` installs it) or
``STUDIOBOOK_CHROMIUM``. Without it the tests are skipped with that reason, except under
``CI=true``, where a missing browser is a failure.

Each test saves a screenshot of every page it visits under ``artifacts/e2e/<test>/``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.live_availability.support import stream_server
from tests.support.live import REPO_ROOT, LiveServer, fresh_database_url, migrate, seed
from tests.support.smtp import Inbox, running_smtp_server

CHROMIUM = os.environ.get("STUDIOBOOK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
ARTIFACTS = REPO_ROOT / "artifacts" / "e2e"
AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
PHONE = {"width": 390, "height": 844}  # most artists book on a phone


def pytest_collection_modifyitems(config, items):
    # Under CI a missing browser must fail (the launch does, naming the path), never skip.
    if Path(CHROMIUM).exists() or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason=f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    for item in items:
        if "/tests/e2e/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def base_url():
    # Replaces pytest-base-url's fixture (which pytest 9 flags as deprecated); tests use
    # ``site.url``.
    return None


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS,
            "headless": True}


@pytest.fixture(scope="session", autouse=True)
def patient_expectations():
    """Playwright's ``expect`` waits 5 s by default; a loaded 2-core CI machine running
    gunicorn, the stream server and Chromium at once needs more. A missing element still
    fails, only later."""
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": PHONE, "locale": "en-CA",
            "timezone_id": "America/Vancouver"}


# --- the site ---------------------------------------------------------------------------------

SEED_SCRIPT = """
import json
from django.utils import timezone
from studiobook.studios.demo import load_demo
from studiobook.studios.models import Studio

summary = load_demo(now=timezone.now())
studio = Studio.objects.get(slug="northside")
# The end-to-end flows go through the approval queue.
studio.requires_approval = True
studio.save(update_fields=["requires_approval"])
print(json.dumps({"slug": studio.slug, "problems": summary.problems}))
"""


@dataclass
class Site:
    url: str
    slug: str
    inbox: Inbox
    database_url: str
    server: LiveServer

    def run(self, script: str) -> dict:
        """Run ``script`` against the site's database (see tests/support/live.seed)."""
        return seed(self.database_url, script)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    """The demo studio (approval required) on gunicorn, with the live-availability stream
    server and a real SMTP server that receives the site's email."""
    with fresh_database_url(tmp_path_factory.mktemp("e2e")) as database_url, \
            running_smtp_server() as inbox:
        migrate(database_url)
        world = seed(database_url, SEED_SCRIPT)
        assert world["problems"] == []
        with stream_server(database_url) as stream:
            env = {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(inbox.port),
                   "EMAIL_USE_TLS": "0", "EMAIL_HOST_USER": "", "EMAIL_HOST_PASSWORD": "",
                   "STUDIOBOOK_STREAM_URL": stream.url,
                   "STUDIOBOOK_SITE_URL": "http://127.0.0.1"}
            with LiveServer(database_url, workers=2, threads=4, env=env) as server:
                yield Site(server.url, world["slug"], inbox, database_url, server)
                errors = [line for line in server.log().splitlines()
                          if "Traceback" in line or " 500 " in line]
                assert not errors, server.log()[-6000:]


# --- screenshots and accessibility ------------------------------------------------------------

class Screenshots:
    """``shots(page, "name")`` saves ``artifacts/e2e/<test>/<NN>-<name>.png`` (full page)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()

    def __call__(self, page, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request) -> Screenshots:
    database = "postgres" if os.environ.get("DATABASE_URL", "").startswith("postgres") \
        else "sqlite"
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    return Screenshots(ARTIFACTS / database / name)


def axe_violations(page, impacts=("serious", "critical")) -> list[dict]:
    """Run axe-core (vendored, tests/e2e/vendor) on the page and return its violations of the
    given impacts, each as {"id", "impact", "help", "targets"}."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "targets": [node["target"] for node in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in impacts]


def assert_accessible(page) -> None:
    violations = axe_violations(page)
    assert violations == [], f"{page.url}:\n{json.dumps(violations, indent=1)}"
