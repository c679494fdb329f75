"""The accessibility check can fail: axe-core finds what a broken page gets wrong."""

from __future__ import annotations

from tests.e2e.conftest import axe_violations


def test_axe_reports_serious_violations_on_a_broken_page(page):
    page.set_content("""<!doctype html><html lang="en"><head><title>Broken</title></head>
        <body><main><h1>Broken</h1>
        <input type="text" name="unlabelled">
        <p style="color:#bbb;background:#fff">Low-contrast text</p>
        <button></button></main></body></html>""")
    found = {v["id"] for v in axe_violations(page)}
    assert found == {"label", "color-contrast", "button-name"}
