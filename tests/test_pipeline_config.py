"""The Snakefile's reading of a config, by dry runs in a directory of one's own (no
build, no capture): one instance per Go release, the golden rules of every target,
a config file that replaces the example, and clear errors. The live run of the
whole workflow is tests/e2e/test_golden_workflow_live.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from gobuild import REPO

EXAMPLE = REPO / "tests" / "progs" / "example"


def dry_run(workdir: Path, config: str, *targets: str) -> subprocess.CompletedProcess[str]:
    (workdir / "godi.yaml").write_text(textwrap.dedent(config))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(
        ["snakemake", "-s", str(REPO / "Snakefile"), "-n", "-c1", *targets,
         "--configfile", "godi.yaml"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def outputs(r: subprocess.CompletedProcess[str]) -> set[str]:
    return set(re.findall(r"output: (\S+?),?\n", r.stdout))


CONFIG = f"""\
    targets:
      shop:
        source: {EXAMPLE}
        go: ["1.23.9", "1.27.3"]
        probes:
          orders: {EXAMPLE}/probes.json
        golden: {{dir: golden/shop, stack_depth: 1, ignore_lines: true, mask: ["[0-9]+ ms"]}}
      prebuilt:
        binary: {sys.executable}
        probes:
          main: {EXAMPLE}/probes.json
    """


def test_one_instance_per_go_release(tmp_path: Path) -> None:
    r = dry_run(tmp_path, CONFIG, "golden_check")
    assert r.returncode == 0, r.stderr
    out = outputs(r)
    for v in ("1.23.9", "1.27.3"):
        assert f"artifacts/shop/go{v}/bin/example" in out
        assert f"artifacts/shop/go{v}/orders/snapshots.json" in out
        assert f"artifacts/shop/go{v}/orders/golden-check.ok" in out
        assert f"artifacts/toolchains/go{v}.installed" in out
    # A prebuilt binary has no Go release of its own.
    assert "artifacts/prebuilt/main/golden-check.ok" in out
    # The example targets of config/config.yaml are not part of it.
    assert not any(o.startswith("artifacts/example") for o in out)


def test_golden_commands(tmp_path: Path) -> None:
    r = dry_run(tmp_path, CONFIG, "-p", "golden_shop")
    assert r.returncode == 0, r.stderr
    for v in ("1.23.9", "1.27.3"):
        assert (
            f"godi golden artifacts/shop/go{v}/orders/snapshots.json -o golden/shop/go{v}/orders "
            "--ignore-lines --stack-depth 1 --mask '[0-9]+ ms'"
        ) in r.stdout
    assert "artifacts/prebuilt" not in r.stdout  # golden_<target>: that target only
    check = dry_run(tmp_path, CONFIG, "-p", "golden_check_prebuilt")
    assert "godi golden artifacts/prebuilt/main/snapshots.json --check golden/prebuilt/main" in (
        check.stdout
    )


def test_report_pages(tmp_path: Path) -> None:
    r = dry_run(tmp_path, CONFIG, "-p")
    assert r.returncode == 0, r.stderr
    assert "artifacts/shop/go1.27.3/orders/snapshots.html" in outputs(r)
    assert "--benchmark capture=artifacts/shop/go1.27.3/benchmarks/orders/capture.tsv" in r.stdout
    assert "--title 'shop go1.27.3 / orders'" in r.stdout


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            f"""\
            targets:
              a: {{binary: {sys.executable}, probes: {{s: p.json}}, golden: same}}
              b: {{binary: {sys.executable}, probes: {{s: p.json}}, golden: same}}
            """,
            "would share the golden directory",
        ),
        (
            f"""\
            targets:
              a: {{source: {EXAMPLE}, go: "1.27", probes: {{s: p.json}}, golden: {{mask: []}}}}
            """,
            "On instance['targets']['a']['golden']",
        ),
        (
            f"""\
            targets:
              a: {{source: {EXAMPLE}, go: [], probes: {{s: p.json}}}}
            """,
            "is not valid under any of the given schemas",
        ),
    ],
)
def test_config_errors(tmp_path: Path, config: str, message: str) -> None:
    r = dry_run(tmp_path, config)
    assert r.returncode != 0
    assert message in r.stdout + r.stderr, r.stderr[-2000:]


def test_lint_has_nothing_but_the_container_advice() -> None:
    """`snakemake --lint` (make lint): every rule has a log; only the advice to name a
    conda environment or container remains, as for every rule of the project."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    r = subprocess.run(
        ["snakemake", "--lint"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    lints = [x.strip() for x in (r.stdout + r.stderr).splitlines() if x.startswith("    * ")]
    assert lints and set(lints) == {"* Specify a conda environment or container for each rule.:"}
