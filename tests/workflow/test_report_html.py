"""The Snakemake report, built from tiny hand-made metrics, rendered in a real headless Chromium.

The report is a JavaScript app: results only appear after it runs. The test appends
``report_driver.js`` to a copy of the report; in the browser it opens every result through the
app's own view manager and records what rendered (table rows and cells inside the iframe,
natural size of each figure) in the DOM, which ``--dump-dom`` returns. A screenshot of the main
table inside the report is saved under ``results/test-output/`` (path printed).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from fhbench import grid
from fhbench.config import validate_config
from fhbench.reporting.priors import PRIORS
from tests.conftest import REPO
from tests.workflow.report_fixture import prepare, snakemake, write_runs

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # The report shows a table in an iframe of a data: URL; reading that iframe's DOM needs this.
    "--disable-web-security",
    "--window-size=1400,900",
    "--virtual-time-budget=30000",
]
OUTPUT = Path(os.environ.get("FHBENCH_TEST_OUTPUT", REPO / "results" / "test-output"))


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is not installed: run .ci/setup/chromium.sh (Debian package 'chromium')")
    return path


def browse(url: str, profile: Path, *mode: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *mode, url], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A repo copy with a small demo subset: two experiments, two figures, report.html."""
    root = tmp_path_factory.mktemp("report")
    repo, _ = prepare(root / "repo")
    config = yaml.safe_load((repo / "config" / "demo.yaml").read_text())
    config["experiments"] = {
        "main": dict(config["experiments"]["main"], metrics=["accuracy"], datasets=["organamnist"], seeds=[0, 1]),
        "heterogeneity": config["experiments"]["heterogeneity"],
    }
    config["figures"] = {name: config["figures"][name] for name in ("convergence", "heterogeneity_sweep")}
    config.pop("tuning", None)  # its tuned experiment is cut too
    (repo / "config" / "report_test.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    config = validate_config(config)
    write_runs(repo, config)  # the runs of main's second seed too
    snakemake(repo, *grid.final_targets(config), configfile="config/report_test.yaml")
    # The report of the result targets (the data tables and split figures need the raw data).
    snakemake(repo, "--report", "report.html", *grid.final_targets(config), configfile="config/report_test.yaml")
    return repo, config


@pytest.mark.slow
def test_report_lists_tables_figures_and_report(built):
    repo, config = built
    text = (repo / "report.html").read_text()
    results = json.loads(re.search(r"var results = (\{.*?\});\n", text, re.S).group(1))
    categories = json.loads(re.search(r"var categories = (\{.*?\});\n", text, re.S).group(1))
    by_category = {name: {p for paths in subs.values() for p in paths} for name, subs in categories.items()}
    tables, figures = grid.tables_dir(config), grid.figures_dir(config)
    assert by_category["Tables"] == {f"{tables}/{e}_accuracy.html" for e in config["experiments"]} | {f"{tables}/efficiency.csv"}
    assert by_category["Figures"] == {f"{figures}/{f}.png" for f in config["figures"]}
    assert by_category["Report"] == {grid.report_path(config)}
    assert by_category["Claims"] == {f"{tables}/claims.csv", f"{figures}/claims.png"}
    assert "Main results" in results[f"{tables}/main_accuracy.html"]["caption"]


@pytest.mark.slow
def test_report_renders_in_chromium(built, tmp_path):
    repo, config = built
    page = repo / "report.html"
    driven = tmp_path / "report_driven.html"
    source = page.read_text()
    cut = source.rindex("</body>")
    driver = (Path(__file__).parent / "report_driver.js").read_text()
    driven.write_text(source[:cut] + f"<script>{driver}</script>" + source[cut:])

    dom = browse(driven.as_uri(), tmp_path / "profile1", "--dump-dom").stdout
    visible = re.sub(r"<script\b.*?</script>", "", dom, flags=re.S)
    check = re.search(r'<pre id="fhbench-check"[^>]*>(.*?)</pre>', visible, re.S)
    assert check, "the driver script did not finish inside the virtual time budget"
    checked = json.loads(html.unescape(check.group(1)))
    # The app rendered its menu with the three result categories.
    assert {"Tables", "Figures", "Report"} <= set(checked["menu"]), checked["menu"]
    rendered = checked["results"]

    main = rendered[f"{grid.tables_dir(config)}/main_accuracy.html"]
    assert main["kind"] == "iframe", main
    exp = config["experiments"]["main"]
    n_methods = len(exp["algorithms"]) + len(exp.get("references", []))  # reference rows (local, centralized) too
    # Modality header, dataset header, one row per method, then the label-prior rows (one seed: no spread).
    assert main["rows"] == 2 + n_methods + len(PRIORS)
    assert len(main["cells"]) == n_methods + len(PRIORS)
    assert all(re.fullmatch(r"\d+\.\d\d ± \d+\.\d\d", c) for c in main["cells"][:n_methods]), main["cells"]
    assert all(re.fullmatch(r"\d+\.\d\d", c) for c in main["cells"][n_methods:]), main["cells"]
    assert main["bold"] >= 1
    for name in config["figures"]:
        figure = rendered[f"{grid.figures_dir(config)}/{name}.png"]
        assert figure["kind"] == "img" and figure["width"] > 200 and figure["height"] > 100, (name, figure)

    OUTPUT.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT / "report_main_table.png"
    browse(driven.as_uri() + f"#show={grid.tables_dir(config)}/main_accuracy.html", tmp_path / "profile2", f"--screenshot={shot}")
    print(f"\nscreenshot of the report showing the main table: {shot}")
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] >= 800 and pixels.shape[1] >= 1300
    assert pixels[..., :3].std() > 0.05  # menu, table and page: not a blank screen
    shutil.copy(page, OUTPUT / "report.html")
