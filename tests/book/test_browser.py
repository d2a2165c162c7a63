"""The built book as a reader sees it: every page of _toc.yml opened in a real Chromium.

The test serves ``_build/html`` on 127.0.0.1 (a threaded http.server on a free port) and drives
Debian's ``chromium`` through Playwright. Requests that leave the local server are refused and
reported, so a page that needs the network (a CDN's MathJax, a web font) fails here just as it
would for a reader offline. One full-page screenshot per page lands in ``_build/screenshots/``.

The browser is ``$ATTENTION_BROWSER`` when set, else ``/usr/bin/chromium`` (``.ci/run``
installs Debian's package), else the first of chromium/chromium-browser/google-chrome on PATH.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from book_paths import BUILD, ROOT, chapter_sources, toc_files
from playwright.sync_api import sync_playwright

SCREENSHOTS = BUILD / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
]
VIEWPORT = {"width": 1280, "height": 900}
EXPECTED_ERROR_TAG = "raises-exception"
# Seconds to wait for images and MathJax on one page.
SETTLE_TIMEOUT_MS = 15_000


def chromium_executable() -> str:
    """The Chromium binary to drive, or a pytest failure saying how to install one."""
    candidates = [os.environ.get("ATTENTION_BROWSER", ""), "/usr/bin/chromium"]
    candidates += [shutil.which(name) or "" for name in
                   ("chromium", "chromium-browser", "google-chrome")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("no Chromium for the browser test: install Debian's package "
                "(`apt-get install chromium`, as .ci/run does) or set ATTENTION_BROWSER to a "
                "Chromium or Chrome binary")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="session")
def site(html_dir):
    """Base URL of the built book, served on 127.0.0.1 for the session."""
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    executable = chromium_executable()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshots():
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


@dataclass
class Visit:
    """What one page load showed: the HTTP status and everything that went wrong."""

    status: int | None = None
    console_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


def open_page(browser, site: str, path: str):
    """Open ``site/path`` in a fresh context that refuses requests leaving ``site``."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    visit = Visit()

    def route(request_route):
        url = request_route.request.url
        if url.startswith((site + "/", "data:", "blob:")):
            request_route.continue_()
        else:
            visit.outside.append(url)
            request_route.abort()

    def on_response(response):
        if response.status >= 400:
            visit.failed.append(f"HTTP {response.status} {response.url}")

    page.route("**/*", route)
    page.on("response", on_response)
    page.on("console", lambda msg: msg.type == "error" and visit.console_errors.append(
        f"{msg.text} ({msg.location.get('url', '')}:{msg.location.get('lineNumber', '')})"))
    page.on("pageerror", lambda error: visit.console_errors.append(f"uncaught: {error}"))
    page.on("requestfailed", lambda request: request.url.startswith(site) and visit.failed.append(
        f"{request.failure} {request.url}"))
    response = page.goto(f"{site}/{path}", wait_until="load")
    visit.status = response.status if response else None
    return context, page, visit


# Runs in the page: wait for every image to finish and for MathJax to typeset, then report.
INSPECT_JS = r"""
async (timeoutMs) => {
  const within = (promise) => Promise.race([
    promise, new Promise((resolve) => setTimeout(resolve, timeoutMs))]);
  const images = [...document.images];
  images.forEach((img) => { img.loading = 'eager'; });
  await within(Promise.all(images.map((img) => img.complete ? null :
    new Promise((resolve) => { img.onload = resolve; img.onerror = resolve; }))));
  const hasMath = document.querySelector('.math') !== null;
  if (hasMath) {
    await within(new Promise((resolve) => {
      const poll = () => (window.MathJax && MathJax.startup && MathJax.startup.promise)
        ? MathJax.startup.promise.then(resolve, resolve) : setTimeout(poll, 50);
      poll();
    }));
  }
  const main = document.querySelector('main') || document.body;
  const rawTex = [];
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest('pre, code, script, style, mjx-container')) continue;
    if (/\$\$|\\\(|\\\[|\\begin\{/.test(node.textContent)) {
      rawTex.push(node.textContent.trim().slice(0, 80));
    }
  }
  return {
    brokenImages: images.filter((img) => !(img.naturalWidth > 0))
      .map((img) => img.getAttribute('src')),
    figuresWithoutPicture: [...main.querySelectorAll('figure')]
      .filter((fig) => !fig.querySelector('img, svg, canvas, video'))
      .map((fig) => fig.id || fig.textContent.trim().slice(0, 60)),
    mathElements: document.querySelectorAll('.math').length,
    untypeset: [...document.querySelectorAll('.math')]
      .filter((el) => !el.querySelector('mjx-container'))
      .map((el) => el.textContent.trim().slice(0, 80)),
    mathErrors: [...document.querySelectorAll('mjx-merror')]
      .map((el) => el.getAttribute('data-mjx-error') || el.textContent),
    mathjaxVersion: window.MathJax && MathJax.version ? MathJax.version : null,
    rawTex,
  };
}
"""

# Cells whose output a reader should never see: tracebacks, stderr, matplotlib reprs.
BAD_OUTPUT_JS = r"""
(tag) => {
  const bad = [];
  for (const cell of document.querySelectorAll('div.cell')) {
    if (cell.classList.contains('tag_' + tag)) continue;
    for (const out of cell.querySelectorAll('.output.traceback, .output.stderr, .output.error')) {
      bad.push(out.className + ': ' + out.textContent.trim().slice(0, 200));
    }
    const text = cell.querySelector('.cell_output')?.textContent || '';
    if (text.includes('Traceback (most recent call last)')) {
      bad.push('traceback: ' + text.slice(0, 200));
    }
  }
  for (const node of document.querySelectorAll('main .output')) {
    if (/<Figure size \d+x\d+ with/.test(node.textContent)) {
      bad.push('a figure shown as text, not an image: ' + node.textContent.trim().slice(0, 80));
    }
  }
  for (const msg of document.querySelectorAll('.system-message, .problematic')) {
    bad.push('docutils problem: ' + msg.textContent.trim().slice(0, 200));
  }
  return bad;
}
"""


@pytest.mark.parametrize("name", toc_files())
def test_page_in_browser(browser, site, screenshots, name):
    context, page, visit = open_page(browser, site, f"{name}.html")
    try:
        report = page.evaluate(INSPECT_JS, SETTLE_TIMEOUT_MS)
        bad_outputs = page.evaluate(BAD_OUTPUT_JS, EXPECTED_ERROR_TAG)
        shot = screenshots / f"{name}.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
    finally:
        context.close()

    problems = []
    if visit.status != 200:
        problems.append(f"HTTP status {visit.status}")
    problems += [f"console error: {e}" for e in visit.console_errors]
    problems += [f"failed request: {f}" for f in visit.failed]
    problems += [f"request outside the site (the book must read offline): {u}"
                 for u in visit.outside]
    problems += [f"image did not load: {src}" for src in report["brokenImages"]]
    problems += [f"figure without a picture: {f}" for f in report["figuresWithoutPicture"]]
    if report["mathElements"]:
        if not report["mathjaxVersion"]:
            problems.append("the page has math but MathJax did not load")
        problems += [f"math not typeset: {t}" for t in report["untypeset"]]
        problems += [f"MathJax error: {e}" for e in report["mathErrors"]]
    problems += [f"raw TeX left in the text: {t}" for t in report["rawTex"]]
    problems += bad_outputs
    assert shot.stat().st_size > 0, f"empty screenshot {shot}"
    assert not problems, f"{name}.html:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_chapter_offers_runnable_notebook(browser, site, source):
    """The download menu serves a runnable .ipynb; Colab opens that notebook, Binder the .md."""
    name = source.relative_to(ROOT).with_suffix("").as_posix()
    context, page, visit = open_page(browser, site, f"{name}.html")
    try:
        links = page.eval_on_selector_all(
            "a[href]", "els => els.map(a => [a.getAttribute('href'), a.href])")
        downloads = [absolute for href, absolute in links if href.endswith(".ipynb")
                     and absolute.startswith(site)]
        assert downloads, f"{name}.html offers no .ipynb download"
        response = context.request.get(downloads[0])
        assert response.status == 200, f"{downloads[0]}: HTTP {response.status}"
        notebook = json.loads(response.text())
    finally:
        context.close()

    first = notebook["cells"][0]
    assert first["cell_type"] == "code" and "pip" in "".join(first["source"]), (
        f"the downloaded notebook's first cell does not install the course: {first}")
    sources = "".join("".join(c["source"]) for c in notebook["cells"][1:])
    assert "from attention_course" in sources, "the notebook does not use the course package"
    if source.stem[:2].isdigit():  # numbered chapters start with the profile/seed setup
        assert "profile = setup(" in sources, "the notebook lacks the chapter's setup cell"
    assert not any(c.get("outputs") for c in notebook["cells"]), "outputs in the notebook"

    colab = [href for href, _ in links if "colab.research.google.com" in href]
    assert colab and all(h.endswith(f"/{name}.ipynb") for h in colab), (
        f"Colab must open the runnable .ipynb, got {colab}")
    binder = [href for href, _ in links if "mybinder.org" in href]
    assert binder and all(h.endswith(f"{name}.md") for h in binder), (
        f"Binder should open the MyST chapter {name}.md, got {binder}")
