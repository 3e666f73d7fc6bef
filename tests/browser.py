"""Open rendered report pages in headless Chromium, as a reviewer would: every resource must load,
the console must stay free of errors, every image and audio clip must decode, and each page is
saved as a full-page screenshot for a person to look at."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Images that did not decode, players whose clip the browser could not read, and intervals wider
# than their cell (a number cut off or spilling into the next column).
BROKEN = """() => [
  ...Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => 'image ' + i.alt),
  ...Array.from(document.querySelectorAll('audio')).filter(a => a.error).map(a => 'audio ' + a.error.code),
  ...Array.from(document.querySelectorAll('td.interval')).filter(td => td.scrollWidth > td.clientWidth + 1)
     .map(td => 'number wider than its cell: ' + td.textContent),
]"""


def require_chromium() -> None:
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (Debian package `chromium`; .ci/run installs it)")
    pytest.importorskip("playwright.sync_api", reason="playwright drives Chromium (the test extra installs it)")


def screenshot_dir(tmp_path: Path) -> Path:
    """$DLREPRO_SCREENSHOTS when set (.ci/run keeps them), else the test's temporary folder."""
    folder = Path(os.environ.get("DLREPRO_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def look_at(html_dir: Path, shots: Path) -> dict[str, list[str]]:
    """Every page's problems (failed requests, console errors, broken media, cut numbers);
    screenshots in shots."""
    from playwright.sync_api import sync_playwright

    problems = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for file in sorted(Path(html_dir).resolve().glob("*.html")):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            found: list[str] = []
            page.on("requestfailed", lambda r: found.append(f"failed request {r.url[:120]}: {r.failure}"))
            page.on("console", lambda m: found.append(f"console {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: found.append(f"script error {e}"))
            page.goto(file.as_uri(), wait_until="load")
            page.wait_for_timeout(200)  # let audio elements read their clips' headers
            found += page.evaluate(BROKEN)
            page.screenshot(path=str(shots / f"{file.stem}.png"), full_page=True)
            page.close()
            problems[file.name] = found
        browser.close()
    return problems
