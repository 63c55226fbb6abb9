"""The golden workflow as a new user runs it (README, "Golden tests in CI"): a Go
program of their own in a directory outside godi, a config with its target on two
Go releases, a probe file; `snakemake golden` writes the goldens, `golden_check`
passes, fails with a readable diff once the program changes a captured value, and
passes again after `snakemake golden`. Then the report: `snakemake --report`,
opened in Debian's headless Chromium, a snapshot expanded and its values compared
with snapshots.json; the screenshot is kept under artifacts/test-report/.

Live: real builds, real uprobes. The values the goldens must hold come from the
program itself (it prints its arguments).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
from gobuild import REPO, go_tool, go_versions

from stages.probecounts import COLUMNS

pytestmark = pytest.mark.live

SCREENSHOTS = REPO / "artifacts" / "test-report"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

MAIN_GO = """\
package main

import (
	"fmt"
	"strings"
)

type Order struct {
	ID       int
	Customer string
	Items    []string
}

//go:noinline
func price(o *Order, discount int) int {
	return len(o.Items)*100 - discount
}

//go:noinline
func label(name string, n int) string {
	return strings.Repeat(name, n)
}

func main() {
	o := &Order{ID: 42, Customer: "CUSTOMER", Items: []string{"tea", "cake"}}
	fmt.Printf("price id=%d customer=%s items=%v discount=%d\\n", o.ID, o.Customer, o.Items, 10)
	fmt.Println("price ->", price(o, 10))
	fmt.Println("label ->", label("ab", 2))
}
"""

PROBES = [
    {"id": p, "version": 1, "where": {"methodName": f"main.{p}"}, "captureSnapshot": True,
     "sampling": {"snapshotsPerSecond": 0}}
    for p in ("price", "label")
]  # fmt: skip


def releases() -> list[str]:
    """Two Go releases (the oldest and newest pinned), or one when only one is."""
    versions = go_versions()
    return list(dict.fromkeys([versions[0], versions[-1]]))


class Project:
    """The user's directory and the commands the README gives them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}

    def snakemake(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        # --configfile takes several files: it goes last.
        command = ["snakemake", "-s", str(REPO / "Snakefile"), "-c2", *args]
        command += ["--configfile", "godi.yaml"]
        r = subprocess.run(
            command, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=600
        )
        if ok:
            assert r.returncode == 0, f"{command}:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
        return r

    def set_customer(self, name: str) -> None:
        (self.root / "main.go").write_text(MAIN_GO.replace("CUSTOMER", name))

    def printed(self, version: str) -> str:
        """What the program printed under capture (the capture job's log)."""
        return (self.root / f"artifacts/shop/go{version}/logs/orders/capture.log").read_text()

    def snapshots(self, version: str) -> list[dict[str, Any]]:
        path = self.root / f"artifacts/shop/go{version}/orders/snapshots.json"
        data: list[dict[str, Any]] = json.loads(path.read_text())
        return data

    def golden(self, version: str, probe: str) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = json.loads(
            (self.root / f"golden/go{version}/orders/{probe}.json").read_text()
        )
        return data


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    for v in releases():
        if not go_tool(v).is_file():
            pytest.skip(f"Go {v} toolchain missing (run scripts/bootstrap.sh)")
    root = tmp_path_factory.mktemp("shop")
    p = Project(root)
    p.set_customer("ada")
    (root / "go.mod").write_text("module example.com/shop\n\ngo 1.21\n")
    (root / "probes.json").write_text(json.dumps(PROBES, indent=2))
    versions = ", ".join(f'"{v}"' for v in releases())
    (root / "godi.yaml").write_text(
        textwrap.dedent(f"""\
            targets:
              shop:
                source: .
                go: [{versions}]
                probes:
                  orders: probes.json
                golden: golden
            """)
    )
    # Only for speed: the build cache the other tests fill (the README's user starts
    # with an empty one under artifacts/go-cache).
    cache = Path(os.environ.get("GOCACHE", Path(tempfile.gettempdir()) / "gocache"))
    cache.mkdir(parents=True, exist_ok=True)
    (root / "artifacts").mkdir()
    (root / "artifacts" / "go-cache").symlink_to(cache)
    return p


def arguments(snapshot: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = snapshot["debugger"]["snapshot"]["captures"]["entry"]["arguments"]
    return args


def test_golden_check_catches_a_changed_value(project: Project) -> None:
    # First goldens, as the README says: `snakemake ... golden`, then the gate passes.
    project.snakemake("golden")
    for v in releases():
        assert "price id=42 customer=ada items=[tea cake] discount=10" in project.printed(v)
        (price,) = project.golden(v, "price")
        o = arguments(price)["o"]
        assert o["type"] == "*main.Order" and o["address"] == "<address>"
        assert o["fields"]["ID"] == {"type": "int", "value": "42"}
        assert o["fields"]["Customer"] == {"type": "string", "value": "ada"}
        assert [e["value"] for e in o["fields"]["Items"]["elements"]] == ["tea", "cake"]
        assert arguments(price)["discount"] == {"type": "int", "value": "10"}
        assert price["timestamp"] == 0 and price["debugger"]["snapshot"]["id"] == "<id>"
        # `source: .` is named after the target, not the checkout's directory.
        assert price["service"] == "shop"
        (label,) = project.golden(v, "label")
        assert label["message"] == 'main.label(name="ab", n=2) -> "abab"'
    project.snakemake("-k", "golden_check")

    # The program changes a captured value: the gate fails and says where.
    project.set_customer("grace")
    failed = project.snakemake("-k", "golden_check", ok=False)
    assert failed.returncode != 0
    for v in releases():
        assert "customer=grace" in project.printed(v)
        header = f"--- golden/go{v}/orders/price.json\n+++ probe price (this run)\n"
        assert header in failed.stderr, failed.stderr[-4000:]
        assert (
            f"godi: goldens differ from golden/go{v}/orders: 1 changed (1 match)" in failed.stderr
        )
    assert re.search(r'\n-\s+"value": "ada"\n\+\s+"value": "grace"\n', failed.stderr)
    assert "snakemake -c2 golden" in failed.stderr
    assert "Traceback" not in failed.stderr

    # The change was intended: regenerate, review, and the gate passes again.
    project.snakemake("golden")
    for v in releases():
        (price,) = project.golden(v, "price")
        assert arguments(price)["o"]["fields"]["Customer"]["value"] == "grace"
    project.snakemake("-k", "golden_check")


def _browser(user_data: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        f"--user-data-dir={user_data}",
    ):
        options.add_argument(flag)
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager fetch a driver
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def test_report_in_a_browser(project: Project, tmp_path: Path) -> None:
    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        pytest.fail("chromium and chromium-driver are missing: run scripts/bootstrap.sh")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    project.snakemake()  # statuses and report pages of every probe set
    report = project.root / "report.html"
    project.snakemake("--report", str(report))
    version = releases()[-1]
    snapshots = project.snapshots(version)
    (price,) = [s for s in snapshots if s["debugger"]["snapshot"]["probe"]["id"] == "price"]
    order = arguments(price)["o"]

    driver = _browser(tmp_path / "chromium")
    try:
        wait = WebDriverWait(driver, 20)
        driver.get(report.as_uri())
        category = f"shop/go{version}"
        wait.until(
            ec.element_to_be_clickable((By.XPATH, f"//*[normalize-space(text())='{category}']"))
        ).click()
        row = wait.until(
            ec.presence_of_element_located(
                (By.XPATH, "//td[normalize-space(.)='orders']/ancestor::tr")
            )
        )
        row.find_element(By.CSS_SELECTOR, "a[iconname='eye']").click()
        wait.until(ec.frame_to_be_available_and_switch_to_it((By.TAG_NAME, "iframe")))
        assert driver.find_element(By.TAG_NAME, "h1").text == f"shop go{version} / orders"

        # The probes table: price hit once, emitted, and made one snapshot (the
        # columns of the terminal's table follow the status).
        cells = driver.find_elements(By.CSS_SELECTOR, "tr[data-probe='price'] td")
        titles = ["probe", "status", *(title for title, _ in COLUMNS), "error"]
        shown = dict(zip(titles, (c.text for c in cells), strict=True))
        assert (shown["probe"], shown["status"], shown["entry hits"]) == ("price", "EMITTING", "1")
        assert shown["snapshots"] == "1"
        # Expand the snapshot, then the order.
        snapshot = driver.find_element(By.CSS_SELECTOR, "details.snapshot[data-probe='price']")
        node = snapshot.find_element(By.CSS_SELECTOR, "li[data-path='entry.o']")
        assert not node.is_displayed()
        snapshot.find_element(By.TAG_NAME, "summary").click()
        assert node.is_displayed()
        assert node.find_element(By.CSS_SELECTOR, ".type").text == order["type"]
        customer = node.find_element(By.CSS_SELECTOR, "li[data-path='entry.o.Customer']")
        assert not customer.is_displayed()
        node.find_element(By.TAG_NAME, "summary").click()
        assert customer.is_displayed()
        want = order["fields"]["Customer"]
        assert customer.find_element(By.CSS_SELECTOR, ".type").text == want["type"]
        assert customer.find_element(By.CSS_SELECTOR, ".value").text == f'"{want["value"]}"'
        item = node.find_element(By.CSS_SELECTOR, "li[data-path='entry.o.Items']")
        item.find_element(By.TAG_NAME, "summary").click()
        shown = [
            e.text
            for e in item.find_elements(By.CSS_SELECTOR, "li.leaf .value")
            if e.is_displayed()
        ]
        assert shown == [f'"{e["value"]}"' for e in order["fields"]["Items"]["elements"]]
        discount = snapshot.find_element(By.CSS_SELECTOR, "li[data-path='entry.discount']")
        assert discount.text.split() == ["discount", "int", arguments(price)["discount"]["value"]]
        ret = snapshot.find_element(By.CSS_SELECTOR, "li[data-path='return.@return']")
        value = price["debugger"]["snapshot"]["captures"]["return"]["locals"]["@return"]["value"]
        assert ret.text.split() == ["@return", "int", value]
        # The filter box hides the other probe.
        driver.find_element(By.ID, "filter").send_keys("grace")
        label = driver.find_element(By.CSS_SELECTOR, "details.snapshot[data-probe='label']")
        assert not label.is_displayed() and snapshot.is_displayed()
        assert driver.find_element(By.ID, "shown").text == "1 of 2 snapshots"
        driver.switch_to.default_content()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / "report-snapshot-expanded.png"
        assert driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        driver.quit()
    shutil.rmtree(tmp_path / "chromium", ignore_errors=True)
