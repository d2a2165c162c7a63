"""Write each ``<script>`` only once per page.

Sphinx 7.4 registers an inline script that an extension adds during the build (``filename``
None) a second time when it prepares writing (``filename`` ''), and the two do not compare
equal. sphinx-thebe adds such a script (``const THEBE_JS_URL = ...``) to every page, so every
page declared the constant twice and the browser reported "Identifier 'THEBE_JS_URL' has
already been declared" (found by tests/book/test_browser.py). This drops the repeats, keeping
the first of scripts with the same file (None and '' alike) and the same attributes.
"""

from __future__ import annotations

from sphinx.application import Sphinx


def script_key(script) -> tuple:
    """What makes two script entries the same tag: file (None == '') and attributes."""
    filename = getattr(script, "filename", script) or ""
    attributes = getattr(script, "attributes", {}) or {}
    return str(filename), tuple(sorted((str(k), str(v)) for k, v in attributes.items()))


def drop_repeated_scripts(app: Sphinx, pagename: str, templatename: str, context: dict,
                          doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Sphinx) -> dict:
    # Late, after the extensions and the theme have added their scripts to the page.
    app.connect("html-page-context", drop_repeated_scripts, priority=950)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
