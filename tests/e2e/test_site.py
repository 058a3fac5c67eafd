"""The course website as a reader sees it: every page in headless Chromium (marked ``site``).

``make test`` builds the site from the quick-mode chapters it has just executed and then runs this
file; ``make book`` builds the full-mode site (check it with ``RNNLAB_SITE=build/book pytest -m site
tests/e2e/test_site.py``). Each chapter page must show its figures, a static view of each widget,
the ``expect`` lines and the claims table, and no error output except in cells tagged
``raises-exception``; every link of the index must lead to its page. Screenshots go to
build/screenshots/site-*.png.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.browser import CHROMIUM, chromium
from tests.e2e.notebook import expectations

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("RNNLAB_SITE", ROOT / "build" / "site-quick")).resolve()
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9]*.ipynb"))
EXERCISES = sorted((ROOT / "exercises" / "student").glob("[0-9]*.ipynb"))
SCREENSHOTS = ROOT / "build" / "screenshots"

pytestmark = [
    pytest.mark.site,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} not found; apt-get install chromium to run the site check",
    ),
    pytest.mark.skipif(
        not (SITE / "index.html").exists(),
        reason=f"no site at {SITE}: `make test` builds it before this check",
    ),
]

# What a chapter page shows, read in the page itself.
PAGE_FACTS = """() => {
  const cellOf = (el) => el.closest('.cell');
  const errors = [
    ...document.querySelectorAll('.cell_output .traceback, .cell_output .output.error'),
  ]
    .filter((el) => !(cellOf(el) && cellOf(el).classList.contains('tag_raises-exception')))
    .map((el) => el.innerText.split('\\n').filter((l) => l.trim()).slice(-1)[0] || 'error');
  const images = [...document.querySelectorAll('.cell_output img')];
  // pictures in the prose (markdown ![alt](figures/...)), not drawn by a cell
  const pictures = [...document.querySelectorAll('article img')].filter(
    (img) => !img.closest('.cell_output'));
  return {
    h1: (document.querySelector('h1') || {innerText: ''}).innerText,
    figures: images.filter((img) => img.complete && img.naturalWidth > 0).length,
    broken: images.filter((img) => !(img.complete && img.naturalWidth > 0)).length,
    widgets: document.querySelectorAll('.cell_output .rnnlab-static-widget').length,
    expects: (document.body.innerText.match(/\\(target [≥≤] /g) || []).length,
    claims: document.querySelectorAll('table.rnnlab-claims').length,
    pictures: pictures.filter((img) => img.complete && img.naturalWidth > 0).length,
    brokenPictures: pictures.filter((img) => !(img.complete && img.naturalWidth > 0))
      .map((img) => img.getAttribute('src')),
    unlabelledPictures: pictures.filter((img) => !(img.getAttribute('alt') || '').trim())
      .map((img) => img.getAttribute('src')),
    errors,
  };
}"""


def _markdown_pictures(notebook: Path) -> int:
    import re

    import nbformat

    return sum(
        len(re.findall(r"!\[[^\]]*\]\(", c.source))
        for c in nbformat.read(notebook, as_version=4).cells
        if c.cell_type == "markdown"
    )


def _source(notebook: Path) -> str:
    import nbformat

    return "\n".join(
        c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"
    )


@pytest.fixture(scope="module")
def browser():
    with chromium((1280, 2000), timeout_ms=30_000) as context:
        yield context


def test_index_links_lead_to_every_chapter_and_exercise(browser):
    page = browser.new_page()
    page.goto((SITE / "index.html").as_uri())
    for notebook, folder in [
        *((c, "chapters") for c in CHAPTERS),
        *((e, "exercises") for e in EXERCISES),
    ]:
        link = page.locator(f"article a[href$='{folder}/{notebook.stem}.html']").first
        link.click()
        page.wait_for_load_state()
        assert page.url.endswith(f"{folder}/{notebook.stem}.html"), page.url
        assert page.locator("h1").first.inner_text().strip(), (
            f"{notebook.name}: page without a title"
        )
        page.go_back()
        page.wait_for_load_state()
    page.close()


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_page_shows_what_the_run_showed(browser, chapter):
    page = browser.new_page()
    page.goto((SITE / "chapters" / f"{chapter.stem}.html").as_uri())
    page.wait_for_load_state("load")
    facts = page.evaluate(PAGE_FACTS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"site-{chapter.stem}.png"), full_page=False)
    page.close()
    number = int(chapter.name[:2])
    assert f"Chapter {number}" in facts["h1"], facts["h1"]
    assert not facts["errors"], f"error output on the page: {facts['errors']}"
    assert facts["broken"] == 0, f"{facts['broken']} images did not load"
    assert not facts["brokenPictures"], f"pictures that did not load: {facts['brokenPictures']}"
    assert not facts["unlabelledPictures"], (
        f"pictures without alt text: {facts['unlabelledPictures']}"
    )
    assert facts["pictures"] >= _markdown_pictures(chapter), (
        "the chapter's markdown shows pictures (figures/...), the page shows fewer"
    )
    wants_figure, wants_widget = expectations(chapter)
    source = _source(chapter)
    if wants_figure:
        assert facts["figures"] >= 1, "the chapter draws figures, the page shows none"
    if wants_widget:
        assert facts["widgets"] >= 1, (
            "the chapter builds widgets, the page shows no static view of them"
        )
    if "expect(" in source:
        assert facts["expects"] >= 1, (
            "the chapter checks claims with expect, the page shows no target line"
        )
    if "claims()" in source:
        assert facts["claims"] == 1, (
            "the chapter ends with claims(), the page shows no claims table"
        )
