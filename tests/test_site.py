"""The website, opened page by page in headless Chromium from file://, with no network at all.

Checks the quick build in docs/_build/html (`bash docs/build.sh --quick`; .ci/run builds it,
then runs this file with GC_TUTORIAL_REQUIRE_SITE=1). With that variable set, a missing site is
built here and a missing site, browser or Playwright fails the test; without it (the README's
test command on a machine without the docs tools) the test skips and says how to build.
Screenshots of the landing page and of notebook 4 go to docs/_build/screenshots/.
"""

import json
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

pytestmark = pytest.mark.slow  # needs the built site; CI runs it: python -m pytest -m slow

ROOT = Path(__file__).parents[1]
HTML = ROOT / "docs" / "_build" / "html"
EXECUTED = ROOT / "docs" / "_build" / "executed"
SCREENSHOTS = ROOT / "docs" / "_build" / "screenshots"
CHROMIUM = os.environ.get("GC_TUTORIAL_CHROMIUM", "/usr/bin/chromium")
# Set by .ci/run once the docs tools are installed: then a missing site, browser or Playwright
# fails the test instead of skipping it (the README's own test command skips without them).
REQUIRE_SITE = os.environ.get("GC_TUTORIAL_REQUIRE_SITE", "") == "1"
NOTEBOOKS = sorted(path.stem for path in (ROOT / "notebooks").glob("[0-9]*.ipynb"))
SITE_PAGES = sorted(path.stem for path in (ROOT / "docs" / "site").glob("*.md"))
PAGES = (
    [f"{name}.html" for name in SITE_PAGES]
    + ["results.html", "api.html", "genindex.html", "py-modindex.html", "search.html"]
    + [f"notebooks/{name}.html" for name in NOTEBOOKS]
)
COLAB = "https://colab.research.google.com/github/gc-tutorial/gc-tutorial/blob/main/notebooks/"
# Log lines that must never reach a reader: TensorFlow/absl start-up, CUDA, warnings.
LOG_NOISE = re.compile(
    r"absl::InitializeLog|^[IWEF]\d{4} |oneDNN|cuda|cuInit|cpu_feature_guard|Warning|WARNING",
    re.M | re.I,
)
# Upstream notices that are not ours to fix here, each with its reason. ipykernel 7 prints this
# when a kernel is started over TCP: notebook 5 starts kernels (gc_tutorial.batch.run_grid).
KNOWN_NOTICES = re.compile(
    r"^\[IPKernelApp\] WARNING \| Kernel is running over TCP without encr.*$", re.M
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
]


def fail_or_skip(reason: str):
    if REQUIRE_SITE:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def site() -> Path:
    if not (HTML / "index.html").is_file():
        if not REQUIRE_SITE:
            pytest.skip(f"No site in {HTML}: build it with `bash docs/build.sh --quick`.")
        subprocess.run(["bash", "docs/build.sh", "--quick"], cwd=ROOT, check=True)
    return HTML


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        fail_or_skip('Playwright is not installed: pip install -e ".[docs]"')
    if not Path(CHROMIUM).is_file():
        fail_or_skip(f"No Chromium at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class OpenedPage:
    """One page loaded from file:// with every other request blocked, and what happened."""

    def __init__(self, browser, path: Path):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.blocked, self.failed, self.errors = [], [], []
        self.context.route("**/*", self._only_files)
        self.page = self.context.new_page()
        self.page.on("requestfailed", lambda request: self.failed.append(request.url))
        self.page.on(
            "console", lambda message: message.type == "error" and self.errors.append(message.text)
        )
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(path.as_uri(), wait_until="load")
        self.page.wait_for_load_state("networkidle")

    def _only_files(self, route):
        if urlparse(route.request.url).scheme in ("file", "data", "blob", "about"):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def broken_images(self) -> tuple[int, list[str]]:
        """How many images the page has, and the sources of those that did not decode."""
        return self.page.evaluate(
            """async () => {
                const images = Array.from(document.images);
                await Promise.all(images.map((image) => {
                    image.loading = "eager";
                    return image.decode().catch(() => null);
                }));
                const broken = images.filter((i) => !(i.complete && i.naturalWidth > 0));
                return [images.length, broken.map((image) => image.currentSrc || image.src)];
            }"""
        )

    def typeset_math(self) -> tuple[int, int]:
        """(math blocks on the page, those MathJax typeset), after MathJax has finished."""
        return self.page.evaluate(
            """async () => {
                const blocks = Array.from(document.querySelectorAll(".math"));
                if (blocks.length && window.MathJax && MathJax.startup) {
                    await MathJax.startup.promise;
                }
                const typeset = blocks.filter((block) => block.querySelector("mjx-container svg"));
                return [blocks.length, typeset.length];
            }"""
        )

    def text(self) -> str:
        return self.page.inner_text("body")

    def links(self) -> list[str]:
        return self.page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")

    def close(self):
        self.context.close()


@pytest.fixture(scope="module")
def opened(site, browser):
    """Each page opened once, lazily, for all the checks below."""
    pages = {}

    def open_page(name: str) -> OpenedPage:
        if name not in pages:
            pages[name] = OpenedPage(browser, site / name)
        return pages[name]

    yield open_page
    for page in pages.values():
        page.close()


def test_the_site_has_exactly_the_expected_pages(site):
    built = {str(path.relative_to(site)) for path in site.rglob("*.html")}
    assert built == set(PAGES), (
        f"untested pages: {built - set(PAGES)}; missing: {set(PAGES) - built}"
    )


@pytest.mark.parametrize("name", PAGES)
def test_page_works_offline(opened, name):
    page = opened(name)
    assert page.blocked == [], f"{name} tried to load from another host: {page.blocked}"
    assert page.failed == [], f"{name} failed to load: {page.failed}"
    assert page.errors == [], f"console errors on {name}: {page.errors}"
    count, broken = page.broken_images()
    assert broken == [], f"images that did not decode on {name}: {broken}"
    blocks, typeset = page.typeset_math()
    assert typeset == blocks, f"{name}: {blocks - typeset} of {blocks} formulas not typeset"
    assert "$$" not in page.text() and "\\frac" not in page.text(), f"raw TeX left on {name}"
    for link in page.links():
        url = urlparse(link)
        if url.scheme == "file":
            assert Path(unquote(url.path)).exists(), f"{name} links to a missing file: {link}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_page_says_how_it_ran_and_links_its_sources(site, opened, name):
    page = opened(f"notebooks/{name}.html")
    text = page.text()
    built = json.loads((EXECUTED.parent / "source" / "_generated" / "build_info.json").read_text())
    mode = "Mode: quick (GC_TUTORIAL_QUICK=1)" if built["quick"] else "Mode: full tutorial"
    assert "How this page was executed" in text and mode in text
    for line in ("Data set: ", "Machine: ", "Executed: "):
        assert line in text, f"{name}: no {line!r} in the note"
    links = page.links()
    assert COLAB + f"{name}.ipynb" in links, "no Open in Colab link"
    downloads = [link for link in links if link.startswith("file:") and link.endswith(".ipynb")]
    assert len(downloads) == 2, f"{name}: expected the source and executed .ipynb: {downloads}"
    source = json.loads(Path(unquote(urlparse(downloads[0]).path)).read_text())
    assert not any(cell.get("outputs") for cell in source["cells"]), "source link has outputs"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_executed_notebook_shows_no_log_noise(site, name):
    notebook = json.loads((EXECUTED / f"{name}.ipynb").read_text())
    for index, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"{name} cell {index} raised"
            if output.get("name") == "stderr":
                text = KNOWN_NOTICES.sub("", "".join(output["text"])).strip()
                assert not LOG_NOISE.search(text), f"{name} cell {index} stderr: {text[:500]}"


def test_formula_in_notebook_3_is_typeset(opened):
    page = opened("notebooks/03_gradient_centralization.html")
    blocks, typeset = page.typeset_math()
    assert blocks >= 1 and typeset == blocks
    assert "\\Phi" not in page.text() and "\\nabla" not in page.text()


@pytest.mark.parametrize(
    ("name", "minimum_images"),
    [("notebooks/01_data.html", 3), ("notebooks/04_comparison.html", 3), ("results.html", 3)],
)
def test_pages_with_figures_show_them(opened, name, minimum_images):
    count, broken = opened(name).broken_images()
    assert count >= minimum_images and broken == []


@pytest.mark.parametrize(
    ("name", "screenshot"),
    [("index.html", "index.png"), ("notebooks/04_comparison.html", "04_comparison.png")],
)
def test_screenshots(opened, name, screenshot):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = opened(name)
    page.typeset_math()
    page.page.screenshot(path=SCREENSHOTS / screenshot, full_page=True)
    assert (SCREENSHOTS / screenshot).stat().st_size > 10_000


def test_the_readme_quotes_the_committed_study():
    """Each difference the README quotes for the study is the committed study's, to 3 decimals:
    GC - baseline final test accuracy at each arm's best learning rate, with its 95% interval."""
    import pandas as pd

    readme = " ".join((ROOT / "README.md").read_text().split())
    best = pd.read_csv(ROOT / "docs" / "study" / "best_learning_rates.csv")
    for row in best.itertuples():
        if row.dataset == "synthetic" and not row.detected:
            continue  # the README names these without figures
        figure = re.escape(f"{row.mean:+.3f} (") + "(95% CI )?"
        figure += re.escape(f"{row.ci_low:+.3f} to {row.ci_high:+.3f})")
        assert re.search(figure, readme), f"{row.dataset} {row.optimizer}: {figure}"
    assert "10 seeds" in readme
