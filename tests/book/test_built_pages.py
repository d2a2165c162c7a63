"""The built HTML and the executed notebooks: every page present, no traceback, no stderr."""

import json

import pytest
from book_paths import BUILD, ROOT, chapter_sources, toc_files
from bs4 import BeautifulSoup

EXPECTED_ERROR_TAG = "raises-exception"


@pytest.mark.parametrize("name", toc_files())
def test_every_toc_page_is_built(html_dir, name):
    page = html_dir / f"{name}.html"
    assert page.exists(), f"{name} is in _toc.yml but {page} was not built"


@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_executed_notebook_has_no_stderr_or_unexpected_error(source):
    executed = BUILD / "jupyter_execute" / source.relative_to(ROOT).with_suffix(".ipynb")
    assert executed.exists(), f"{source} was not executed by the book build ({executed} missing)"
    notebook = json.loads(executed.read_text())
    problems = []
    for index, cell in enumerate(notebook["cells"]):
        tags = cell.get("metadata", {}).get("tags", [])
        for output in cell.get("outputs", []):
            if output.get("name") == "stderr":
                problems.append(f"cell {index} wrote to stderr: {''.join(output['text'])[:300]}")
            if output["output_type"] == "error" and EXPECTED_ERROR_TAG not in tags:
                problems.append(f"cell {index} raised {output['ename']}: {output['evalue'][:300]}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_page_shows_no_traceback_or_stderr(html_dir, source):
    page = html_dir / source.relative_to(ROOT).with_suffix(".html")
    soup = BeautifulSoup(page.read_text(), "html.parser")
    cells = soup.select("div.cell")
    assert cells, f"{page} shows no executed code cells"
    for cell in cells:
        if f"tag_{EXPECTED_ERROR_TAG}" in cell.get("class", []):
            continue
        bad = cell.select(".output.traceback, .output.stderr, .output.error")
        assert not bad, f"{page.name}: a cell shows {bad[0].get('class')}: {bad[0].text[:300]}"


@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_page_images_exist(html_dir, source):
    page = html_dir / source.relative_to(ROOT).with_suffix(".html")
    soup = BeautifulSoup(page.read_text(), "html.parser")
    for img in soup.select("img"):
        src = img.get("src", "")
        if src.startswith(("http", "data:")):
            continue
        assert (page.parent / src).resolve().exists(), f"{page.name}: image {src} missing"
