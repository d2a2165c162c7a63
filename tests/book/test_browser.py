"""The built book as a reader sees it: every page of _toc.yml opened in a real Chromium.

The test serves ``_build/html`` on 127.0.0.1 (a threaded http.server on a free port) and drives
Debian's ``chromium`` through Playwright. Requests that leave the local server are refused and
reported, so a page that needs the network (a CDN's MathJax, a web font) fails here just as it
would for a reader offline. One full-page screenshot per page lands in ``_build/screenshots/``.

The browser is ``$ATTENTION_BROWSER`` when set, else ``/usr/bin/chromium`` (``.ci/run``
installs Debian's package), else the first of chromium/chromium-browser/google-chrome on PATH.
"""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def serving(directory: Path):
    """Serve ``directory`` on 127.0.0.1 (a free port) while the block runs; yields its URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def site(html_dir):
    """Base URL of the built book, served on 127.0.0.1 for the session."""
    with serving(html_dir) as url:
        yield url


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


# -- interactive figures (src/attention_course/interactive.py, _static/attention-explorer.js) ---
#
# Each test moves the controls as a reader would (keyboard, mouse, typing), reads the numbers
# the figure shows (its data-weight / data-value attributes carry them at full precision, the
# text shows them rounded) and compares them with attention_course.attention.masked_softmax,
# or with the numbers the chapter wrote into the page. Screenshots before and after go to
# _build/screenshots/interactive/.

SOFTMAX_PAGE = "book/04_attention_weights"
REVIEW_PAGE = "book/05_rnn_attention"
ENCODER_DECODER_PAGE = "book/06_encoder_decoder"
HEADS_PAGE = "book/07_self_attention"
READY = ".ax-widget[data-ax-ready='true']"
TOLERANCE = 1e-6
ROUNDING_8 = 0.5e-8  # the synthetic figure's weights are rounded to 8 decimals

READ_SOFTMAX_JS = r"""
(root) => {
  const numbers = (selector, attr) => [...root.querySelectorAll(selector)]
    .map((el) => Number(el.dataset[attr]));
  const context = root.querySelector('.ax-context');
  return {
    temperature: Number(root.dataset.temperature),
    scores: [...root.querySelectorAll('input.ax-score')].map((el) => Number(el.value)),
    mask: [...root.querySelectorAll('input.ax-mask')].map((el) => el.checked),
    weights: numbers('.ax-weight', 'weight'),
    shown: [...root.querySelectorAll('.ax-weight')].map((el) => el.textContent),
    bars: [...root.querySelectorAll('.ax-bar-fill')].map((el) => parseFloat(el.style.width)),
    sum: Number(root.querySelector('.ax-sum').dataset.value),
    entropy: Number(root.querySelector('.ax-entropy').dataset.value),
    context: context ? JSON.parse(context.dataset.value) : null,
    values: JSON.parse(root.querySelector('script.ax-data').textContent).values,
    nothingShown: !root.querySelector('.ax-nothing').hidden,
  };
}
"""

READ_ALIGNMENT_JS = r"""
(root) => {
  const readout = root.querySelector('.ax-readout');
  return {
    head: Number(root.dataset.head),
    row: Number(root.dataset.row),
    tokens: [...root.querySelectorAll('.ax-in')].map((el) => Number(el.dataset.weight)),
    readoutCol: readout.dataset.col === undefined ? null : Number(readout.dataset.col),
    readoutWeight: readout.dataset.weight === undefined ? null : Number(readout.dataset.weight),
    readout: readout.textContent,
    grid: [...root.querySelectorAll('tr.ax-grid-row')].map((tr) =>
      [...tr.querySelectorAll('td')].map((td) => Number(td.dataset.weight))),
  };
}
"""


def python_softmax(scores, mask, temperature):
    """What attention_course computes for the figure's inputs (float64)."""
    import keras
    import numpy as np

    from attention_course.attention import masked_softmax

    scores = np.asarray(scores, dtype=np.float64) / temperature
    return keras.ops.convert_to_numpy(masked_softmax(scores, np.asarray(mask, dtype=bool)))


def check_softmax_figure(state: dict, what: str) -> None:
    """The figure's weights, sum, entropy and context against masked_softmax."""
    import numpy as np

    want = python_softmax(state["scores"], state["mask"], state["temperature"])
    weights = np.array(state["weights"])
    mask = np.array(state["mask"])
    assert np.abs(weights - want).max() <= TOLERANCE, (
        f"{what}: the page shows weights {weights}, masked_softmax gives {want} for scores "
        f"{state['scores']}, mask {state['mask']}, temperature {state['temperature']}")
    assert np.all(weights[~mask] == 0.0), f"{what}: a masked key has weight {weights[~mask]}"
    assert state["shown"] == [f"{w:.3f}" for w in weights], f"{what}: text {state['shown']}"
    assert np.allclose(state["bars"], 100 * weights, atol=0.01), f"{what}: bars {state['bars']}"
    values = np.array(state["values"])
    if mask.any():
        assert abs(weights.sum() - 1) <= 1e-12 and abs(state["sum"] - 1) <= 1e-12, (
            f"{what}: weights sum to {weights.sum()}")
        assert not state["nothingShown"]
    else:
        assert np.all(weights == 0.0) and state["sum"] == 0.0, f"{what}: {weights}"
        assert state["nothingShown"], f"{what}: the 'nothing to attend to' note is hidden"
    p = want[want > 0]
    assert abs(state["entropy"] - float(-(p * np.log(p)).sum())) <= TOLERANCE, what
    assert np.abs(np.array(state["context"]) - want @ values).max() <= TOLERANCE, (
        f"{what}: context {state['context']}, expected {want @ values}")


READERS = {"softmax": READ_SOFTMAX_JS, "alignment": READ_ALIGNMENT_JS}


@contextlib.contextmanager
def figure_on_page(browser, site: str, path: str, kind: str):
    """Open ``site/path`` and wait until its figure of ``kind`` is live; yields
    ``(page, figure locator, read)``, where ``read()`` returns what the figure shows.
    Afterwards: no console error, no request outside the site."""
    context, page, visit = open_page(browser, site, path)
    try:
        page.wait_for_selector(f".ax-{kind}{READY}", timeout=SETTLE_TIMEOUT_MS)
        root = page.locator(f".ax-{kind}")
        handle = root.element_handle()
        yield page, root, lambda: page.evaluate(READERS[kind], handle)
    finally:
        context.close()
    assert not visit.console_errors, visit.console_errors
    assert not visit.outside, f"requests outside the site: {visit.outside}"


def widget_shot(page, locator, screenshots, name: str, park: bool = True) -> Path:
    """A screenshot of one figure; the mouse is parked first (``park``) so that scrolling
    the figure into view cannot hover something else."""
    if park:
        page.mouse.move(0, 0)
    shot = screenshots / "interactive" / f"{name}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    locator.screenshot(path=str(shot))
    assert shot.stat().st_size > 0
    return shot


def test_softmax_explorer_in_browser(browser, site, screenshots):
    """Chapter 4: temperature slider, mask boxes, typed and dragged scores, the empty row."""
    import numpy as np

    with figure_on_page(browser, site, f"{SOFTMAX_PAGE}.html", "softmax") as (page, root, read):
        # The script's softmax on the hard cases, against the package's.
        cases = [([1e4, 0.0, -1e4], [True] * 3), ([-1000.0, -999.0, -998.0], [True] * 3),
                 ([0.3, -1.2, 2.0, 0.7], [False] * 4), ([5.0, 1.0, 2.0], [False, True, True])]
        for scores, mask in cases:
            got = page.evaluate("([s, m]) => window.AttentionExplorer.maskedSoftmax(s, m)",
                                [scores, mask])
            want = python_softmax(scores, mask, 1.0)
            assert np.abs(np.array(got) - want).max() <= TOLERANCE, (scores, mask, got, want)
            assert all(g == 0.0 for g, m in zip(got, mask, strict=True) if not m)

        first = read()
        check_softmax_figure(first, "first state")
        assert first["temperature"] == 1.0 and all(first["mask"])
        widget_shot(page, root, screenshots, "ch04-softmax-before")

        # Temperature: 30 steps of 0.01 in log10 τ down, with the keyboard.
        root.locator("input.ax-tau").focus()
        for _ in range(30):
            page.keyboard.press("ArrowLeft")
        state = read()
        assert state["temperature"] == pytest.approx(10 ** -0.3, rel=1e-12)
        check_softmax_figure(state, "after lowering the temperature")
        assert max(state["weights"]) > max(first["weights"]), "a colder softmax is not sharper"

        # Mask the second key (click its box).
        root.locator("input.ax-mask").nth(1).click()
        state = read()
        assert state["mask"][1] is False and state["weights"][1] == 0.0
        check_softmax_figure(state, "after masking key 2")

        # Type a score.
        typed = root.locator("input.ax-score").nth(2)
        typed.fill("3.5")
        state = read()
        assert state["scores"][2] == 3.5
        check_softmax_figure(state, "after typing 3.5 as score 3")

        # Drag a score's slider to the right with the mouse.
        slider = root.locator("input.ax-score-range").nth(4)
        box = slider.bounding_box()
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] / 2, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.85, y, steps=8)
        page.mouse.up()
        state = read()
        assert state["scores"][4] > first["scores"][4], "dragging did not raise score 5"
        check_softmax_figure(state, "after dragging score 5")
        widget_shot(page, root, screenshots, "ch04-softmax-after")

        # Mask every key: all weights exactly 0, a zero context vector.
        for box_ in root.locator("input.ax-mask").all():
            if box_.is_checked():
                box_.click()
        state = read()
        check_softmax_figure(state, "with every key masked")
        assert state["context"] == [0.0, 0.0]

        # Reset, and the dark theme (pydata-sphinx-theme's toggle sets html[data-theme]).
        root.locator("button.ax-reset").click()
        assert read()["weights"] == first["weights"]
        page.evaluate("document.documentElement.dataset.theme = 'dark'")
        widget_shot(page, root, screenshots, "ch04-softmax-dark")


def embedded_data(html_dir: Path, name: str, kind: str) -> list[dict]:
    """The numbers the chapter wrote into its page, read from the HTML file (no browser)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((html_dir / f"{name}.html").read_text(encoding="utf-8"), "html.parser")
    return [json.loads(root.select_one("script.ax-data").string)
            for root in soup.select(f".ax-widget[data-ax='{kind}']")]


def check_row(state: dict, want, decimals_tolerance: float, what: str) -> None:
    import numpy as np

    tokens = np.array(state["tokens"])
    assert np.abs(tokens - np.asarray(want)).max() <= TOLERANCE, (
        f"{what}: the page shades by {tokens}, the chapter's weights are {want}")
    assert np.all(tokens >= 0), what
    if tokens.any():  # rounded weights: the sum is 1 up to the rounding
        assert abs(tokens.sum() - 1) <= decimals_tolerance * len(tokens) + 1e-12, (
            f"{what}: weights sum to {tokens.sum()}")


def test_review_explorer_in_browser(browser, site, screenshots, html_dir):
    """Chapter 5: point at a word, switch seeds, move along with the keyboard."""
    [data] = embedded_data(html_dir, REVIEW_PAGE, "alignment")
    weights = data["weights"]  # (seeds, 1, words), rounded by the chapter's cell
    rounding = 0.5 * 10.0 ** -data["decimals"]
    with figure_on_page(browser, site, f"{REVIEW_PAGE}.html", "alignment") as (page, root, read):
        words = root.locator(".ax-in")
        assert words.count() == len(data["inputs"]) > 1

        state = read()
        check_row(state, weights[0][0], rounding, "first state")
        widget_shot(page, root, screenshots, "ch05-review-before")

        top = max(range(len(data["inputs"])), key=lambda j: weights[0][0][j])
        words.nth(top).hover()
        state = read()
        assert state["readoutCol"] == top
        assert abs(state["readoutWeight"] - weights[0][0][top]) <= TOLERANCE
        assert "rank 1 of" in state["readout"] and data["inputs"][top] in state["readout"]
        widget_shot(page, root, screenshots, "ch05-review-hover", park=False)

        if len(weights) > 1:  # another seed's model
            root.locator("input.ax-head").nth(1).check()
            words.nth(top).hover()
            state = read()
            assert state["head"] == 1
            check_row(state, weights[1][0], rounding, "second seed")
            assert abs(state["readoutWeight"] - weights[1][0][top]) <= TOLERANCE

        words.nth(0).focus()
        page.keyboard.press("ArrowRight")
        page.mouse.move(0, 0)
        state = read()
        assert state["readoutCol"] == 1, "the arrow key did not move to the second word"
        assert abs(state["readoutWeight"] - weights[state["head"]][0][1]) <= TOLERANCE
        widget_shot(page, root, screenshots, "ch05-review-after")
        page.evaluate("document.documentElement.dataset.theme = 'dark'")
        widget_shot(page, root, screenshots, "ch05-review-dark")


def test_encoder_decoder_explorer_in_browser(browser, site, screenshots, html_dir):
    """Chapter 6: a decoded date's alignment, one output character at a time, per seed."""
    [data] = embedded_data(html_dir, ENCODER_DECODER_PAGE, "alignment")
    weights = data["weights"]  # (seeds, output characters, input characters)
    rounding = 0.5 * 10.0 ** -data["decimals"]
    assert len(weights[0]) == len(data["outputs"]) > 1
    assert len(weights[0][0]) == len(data["inputs"]) > 1
    with figure_on_page(browser, site, f"{ENCODER_DECODER_PAGE}.html",
                        "alignment") as (page, root, read):
        outputs, inputs = root.locator(".ax-out"), root.locator(".ax-in")
        assert outputs.count() == len(data["outputs"])
        assert inputs.count() == len(data["inputs"])
        check_row(read(), weights[0][0], rounding, "first state")
        widget_shot(page, root, screenshots, "ch06-alignment-before")

        for row in range(len(data["outputs"])):
            outputs.nth(row).hover()
            state = read()
            assert (state["head"], state["row"]) == (0, row)
            check_row(state, weights[0][row], rounding, f"output {row}")

        row = len(data["outputs"]) // 2  # an output character inside the date
        outputs.nth(row).hover()
        top = max(range(len(data["inputs"])), key=lambda j: weights[0][row][j])
        inputs.nth(top).hover()
        state = read()
        assert (state["row"], state["readoutCol"]) == (row, top)
        assert abs(state["readoutWeight"] - weights[0][row][top]) <= TOLERANCE
        assert "rank 1 of" in state["readout"]
        widget_shot(page, root, screenshots, "ch06-alignment-hover", park=False)

        if len(weights) > 1:  # another seed's model
            root.locator("input.ax-head").nth(1).check()
            outputs.nth(row).hover()
            state = read()
            assert (state["head"], state["row"]) == (1, row)
            check_row(state, weights[1][row], rounding, "second seed")

        outputs.nth(0).focus()
        page.keyboard.press("ArrowRight")
        page.mouse.move(0, 0)
        state = read()
        assert state["row"] == 1, "the arrow key did not move to the second output"
        check_row(state, weights[state["head"]][1], rounding, "row chosen with the keyboard")
        widget_shot(page, root, screenshots, "ch06-alignment-after")


def test_heads_explorer_in_browser(browser, site, screenshots, html_dir):
    """Chapter 7: one review's self-attention per head; rows, heads, grid, keyboard."""
    import numpy as np

    from attention_course.interactive import MAX_GRID

    [data] = embedded_data(html_dir, HEADS_PAGE, "alignment")
    weights = np.array(data["weights"])  # (heads, T, T), rounded by the chapter's cell
    heads, length, _ = weights.shape
    assert heads > 1 and length > 1 and data["inputs"] == data["outputs"]
    rounding = 0.5 * 10.0 ** -data["decimals"]
    with figure_on_page(browser, site, f"{HEADS_PAGE}.html", "alignment") as (page, root, read):
        state = read()
        check_row(state, weights[0, 0], rounding, "first state")
        gridded = length <= MAX_GRID  # the whole matrix is drawn as a grid
        if gridded:
            np.testing.assert_allclose(state["grid"], weights[0], rtol=0, atol=TOLERANCE)
        widget_shot(page, root, screenshots, "ch07-heads-before")

        row = length // 2
        root.locator(".ax-out").nth(row).hover()
        state = read()
        assert (state["head"], state["row"]) == (0, row)
        check_row(state, weights[0, row], rounding, f"head 1, word {row}")

        root.locator("input.ax-head").nth(1).check()
        root.locator(".ax-out").nth(row).hover()
        state = read()
        assert (state["head"], state["row"]) == (1, row)
        check_row(state, weights[1, row], rounding, f"head 2, word {row}")
        if gridded:
            np.testing.assert_allclose(state["grid"], weights[1], rtol=0, atol=TOLERANCE)

        top = int(np.argmax(weights[1, row]))
        root.locator(".ax-in").nth(top).hover()
        state = read()
        assert state["readoutCol"] == top
        assert abs(state["readoutWeight"] - weights[1, row, top]) <= TOLERANCE
        assert "rank 1 of" in state["readout"] and data["inputs"][top] in state["readout"]
        widget_shot(page, root, screenshots, "ch07-heads-hover", park=False)

        root.locator(".ax-out").nth(0).focus()
        page.keyboard.press("ArrowRight")
        page.mouse.move(0, 0)
        state = read()
        assert state["row"] == 1, "the arrow key did not move to the second word"
        check_row(state, weights[1, 1], rounding, "word chosen with the keyboard")
        widget_shot(page, root, screenshots, "ch07-heads-after")


@pytest.fixture(scope="session")
def alignment_page(html_dir, tmp_path_factory):
    """A page with a synthetic alignment explorer (2 heads, causal mask, one empty row),
    written by interactive.alignment_explorer and served with the built book's _static files,
    as chapters 6 and 7 will use it. Returns (folder, weights, the figure)."""
    import keras
    import numpy as np

    from attention_course import interactive
    from attention_course.attention import masked_softmax

    folder = tmp_path_factory.mktemp("alignment")
    (folder / "_static").mkdir()
    for name in ("attention-explorer.js", "attention-explorer.css"):
        shutil.copy(html_dir / "_static" / name, folder / "_static" / name)
    rng = np.random.default_rng(16)
    inputs = ["12", "march", "2001", "<pad>"]
    outputs = ["2001", "-", "03", "-", "12", "<pad>"]
    allowed = np.tril(np.ones((6, 4), dtype=bool), k=1)
    allowed[:, 3] = False  # the input's padding
    allowed[5] = False  # the output's padding: a query with nothing to attend to
    weights = keras.ops.convert_to_numpy(
        masked_softmax(3 * rng.normal(size=(2, 6, 4)), allowed))
    figure = interactive.alignment_explorer(
        weights, outputs, inputs, head_names=["head A", "head B"], decimals=8,
        title="A synthetic alignment", output_label="output token",
        input_label="input token")
    (folder / "index.html").write_text(
        '<!doctype html><html lang="en" data-theme="light"><head><meta charset="utf-8">'
        "<title>alignment explorer</title>"
        '<link rel="stylesheet" href="_static/attention-explorer.css">'
        '<script src="_static/attention-explorer.js"></script></head>'
        f"<body><main>{figure.html}</main></body></html>", encoding="utf-8")
    return folder, weights, allowed


def test_alignment_explorer_in_browser(browser, screenshots, alignment_page):
    """Outputs × inputs with heads, as chapters 6 and 7 call it: rows, heads, grid, keyboard."""
    import numpy as np

    folder, weights, allowed = alignment_page
    with serving(folder) as url, \
            figure_on_page(browser, url, "index.html", "alignment") as (page, root, read):
        state = read()
        check_row(state, weights[0, 0], ROUNDING_8, "first state")
        np.testing.assert_allclose(state["grid"], weights[0], rtol=0, atol=TOLERANCE)
        widget_shot(page, root, screenshots, "alignment-before")

        root.locator(".ax-head").nth(1).check()
        for row in range(weights.shape[1]):
            root.locator(".ax-out").nth(row).hover()
            state = read()
            assert (state["head"], state["row"]) == (1, row)
            check_row(state, weights[1, row], ROUNDING_8, f"head B, row {row}")
            tokens = np.array(state["tokens"])
            assert np.all(tokens[~allowed[row]] == 0.0), f"row {row}: masked weights {tokens}"
        assert "attends to nothing" in state["readout"]  # the last row: all masked
        assert state["tokens"] == [0.0] * 4
        np.testing.assert_allclose(read()["grid"], weights[1], rtol=0, atol=TOLERANCE)

        root.locator("table.ax-grid tr.ax-grid-row").nth(2).locator("td").nth(1).hover()
        state = read()
        assert (state["row"], state["readoutCol"]) == (2, 1)
        assert abs(state["readoutWeight"] - weights[1, 2, 1]) <= TOLERANCE
        widget_shot(page, root, screenshots, "alignment-after")

        root.locator(".ax-out").nth(0).focus()
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        page.mouse.move(0, 0)
        state = read()
        assert state["row"] == 2, "the arrow keys did not move to the third output"
        check_row(state, weights[1, 2], ROUNDING_8, "row chosen with the keyboard")
