"""report.html opened in a real browser: Debian's Chromium, driven by Playwright.

``.ci/run`` installs the ``chromium`` package; Playwright's own browser
downloads are not used (``executable_path`` points at the system browser).
"""

import shutil

import pytest
from playwright.sync_api import sync_playwright

from deepstack.datasets import load_table
from deepstack.runs import fit_table, load_run

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECTIONS = [
    "summary",
    "data",
    "training",
    "search",
    "evaluation",
    "importance",
    "diagnostics",
]


def _chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "the report test needs Debian's chromium (apt-get install chromium)"
    return path


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=_chromium(), args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def _open(browser, path):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    return page


def _rendered_images(page):
    return page.eval_on_selector_all(
        "img",
        "els => els.map(e => ({alt: e.alt, complete: e.complete,"
        " width: e.naturalWidth, height: e.naturalHeight,"
        " section: e.closest('section').id}))",
    )


@pytest.fixture(scope="module")
def searched_classification(tmp_path_factory):
    frame, target = load_table("penguins")
    out = tmp_path_factory.mktemp("report") / "penguins"
    fit_table(
        frame,
        target,
        search="random",
        max_trials=2,
        search_space={
            "learning_rate": [1e-2, 3e-3],
            "dropout": [0.1, 0.2],
            "batch_norm": [True, False],
            "optimizer": ["adam", "rmsprop"],
            "l2": [1e-4, 1e-3],
        },
        params={"hidden_layer_sizes": (8,), "max_epochs": 15},
        out=out,
        progress=False,
    )
    return out


def test_classification_report_renders_every_section_and_image(
    browser, searched_classification
):
    page = _open(browser, searched_classification / "report.html")
    assert page.title() == "deepstack run: species"
    ids = page.eval_on_selector_all("section", "els => els.map(e => e.id)")
    assert ids == SECTIONS
    for section in SECTIONS:
        heading = page.locator(f"section#{section} h2")
        assert heading.count() == 1 and heading.is_visible()
    images = _rendered_images(page)
    by_alt = {image["alt"]: image for image in images}
    assert set(by_alt) == {
        "learning curves",
        "search trials",
        "confusion matrix",
        "ROC and precision-recall curves",
        "column importance",
    }
    for image in images:
        assert image["complete"] and image["width"] > 200 and image["height"] > 100
    assert by_alt["confusion matrix"]["section"] == "evaluation"
    assert by_alt["column importance"]["section"] == "importance"
    # One row a feature column, as the run's importance.csv holds them.
    importance = load_run(searched_classification).importance
    assert len(importance) == 7
    table = page.locator("section#importance table tr")
    assert table.count() == 1 + 7
    assert table.nth(1).inner_text().split("\t")[0] == importance["column"][0]
    # The data section lists every feature column with its role.
    rows = page.locator("section#data table tr").count()
    assert rows == 1 + 7
    text = page.locator("section#data").inner_text()
    assert "categorical" in text and "numeric" in text
    assert "log_scale" not in text  # no column of penguins is read on a log scale
    # The baselines beside the run, each row's accuracy as in metrics.json.
    metrics = load_run(searched_classification).metrics
    rows = page.locator("section#summary table.baselines tr")
    assert rows.count() == 1 + 3
    cells = [rows.nth(i).inner_text().split("\t") for i in range(4)]
    assert cells[0][:2] == ["model", "accuracy"]
    expected = {"this run": metrics["test"], **metrics["baselines"]}
    assert [c[0] for c in cells[1:]] == list(expected)
    assert [c[1] for c in cells[1:]] == [
        f"{m['accuracy']:.4g}" for m in expected.values()
    ]
    # Epochs counted from 1, as on the learning curves' axis (metrics.json's
    # best_epoch is the history's index).
    learning = page.locator("section#training").inner_text()
    assert f"the weights of epoch {metrics['best_epoch'] + 1} were kept" in learning
    # The search table has one row per trial.
    assert page.locator("section#search table").last.locator("tr").count() == 1 + 2
    # Nothing is wider than the window: wide tables scroll in their own box.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1200, width
    page.close()


def test_regression_report_after_rewriting(browser, tmp_path):
    frame, target = load_table("diabetes")
    out = tmp_path / "diabetes"
    run = fit_table(
        frame,
        target,
        params={"hidden_layer_sizes": (8,), "max_epochs": 10},
        out=out,
        progress=False,
    )
    (out / "report.html").unlink()
    load_run(out).write_report()
    page = _open(browser, out / "report.html")
    images = _rendered_images(page)
    assert [i["alt"] for i in images] == [
        "learning curves",
        "predicted vs true and residuals",
        "column importance",
    ]
    assert all(i["complete"] and i["width"] > 200 for i in images)
    summary = page.locator("section#summary").inner_text()
    assert f"{run.metrics['test']['r2']:.4g}" in summary
    assert "No search" in page.locator("section#search").inner_text()
    page.close()


def test_many_classes_draw_a_larger_matrix_and_ten_curves(browser, tmp_path):
    """46 classes: the confusion matrix grows with them (no numbers in its
    cells) and the curves show the ten most frequent classes, without the
    layout warnings that a legend of 46 entries gave."""
    import warnings

    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 46, 1400)
    frame = pd.DataFrame(
        {"x": labels + rng.normal(0, 0.3, 1400), "city": [f"c{i}" for i in labels]}
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_table(
            frame,
            "city",
            params={"hidden_layer_sizes": (8,), "max_epochs": 2},
            bagging=None,
            baselines=False,
            out=tmp_path / "cities",
            progress=False,
        )
    assert not [w for w in caught if "layout" in str(w.message)]
    page = _open(browser, tmp_path / "cities" / "report.html")
    by_alt = {image["alt"]: image for image in _rendered_images(page)}
    # 0.28 inch a class + 2.5: 15.4 inches, against 5 for a few classes.
    assert by_alt["confusion matrix"]["height"] > 1000
    page.close()


def test_long_and_cjk_names_keep_the_page_in_the_window(browser, tmp_path):
    """A 330-character column name wraps in the tables and is cut short on
    the importance plot; names in a script the plots' font lacks give no
    warning a character (the tables show them as written)."""
    import warnings

    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    long = "measurement_" * 27 + "end"
    frame = pd.DataFrame(
        {
            long: rng.normal(size=200),
            "温度": rng.normal(size=200),
            "y": np.where(rng.normal(size=200) > 0, "日本", "米国"),
        }
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_table(
            frame,
            "y",
            params={"hidden_layer_sizes": (8,), "max_epochs": 2},
            bagging=None,
            baselines=False,
            out=tmp_path / "names",
            progress=False,
        )
    assert not [w for w in caught if "Glyph" in str(w.message)]
    page = _open(browser, tmp_path / "names" / "report.html")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1200
    assert long in page.locator("section#importance").inner_text()
    assert "温度" in page.locator("section#data").inner_text()
    page.close()
