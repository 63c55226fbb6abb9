# Helpers of the Snakefile: where each target's files live, read from the validated
# config. Paths are relative to the repository root, the working directory.

import hashlib
import re
import shlex
import shutil
from pathlib import Path

from snakemake.exceptions import WorkflowError

GO_VERSIONS_FILE = Path(workflow.basedir) / "scripts" / "go-versions.txt"
DEFAULT_GO = GO_VERSIONS_FILE.read_text().split()[-1]
TARGETS = config["targets"]

if shutil.which("godi") is None:
    raise WorkflowError(
        "godi is not on PATH: run `make snakemake`, or `. .venv/bin/activate` first "
        "(scripts/bootstrap.sh creates .venv)"
    )


def godi_fingerprint():
    """A hash of godi's own code (stages/, bpf/), a param of every stage rule: editing
    godi reruns the stages, as Snakemake reruns a job whose params changed."""
    digest = hashlib.sha256()
    base = Path(workflow.basedir)
    files = [*(base / "stages").rglob("*.py"), *(base / "bpf").glob("*")]
    for path in sorted(p for p in files if p.is_file()):
        for part in (str(path.relative_to(base)).encode(), path.read_bytes()):
            digest.update(len(part).to_bytes(8, "little"))
            digest.update(part)
    return digest.hexdigest()[:16]


GODI_CODE = godi_fingerprint()


def names_regex(names):
    """A wildcard constraint matching exactly these names (nothing when empty)."""
    names = sorted(set(names))
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


def go_version(target):
    """The Go version that builds a source target."""
    return TARGETS[target].get("go", DEFAULT_GO)


def go_tool(target):
    """The `go` command of a source target's toolchain (see rule go_toolchain)."""
    return f".tools/go/{go_version(target)}/go/bin/go"


def binary(target):
    """The target's binary under artifacts/: built from `source` or copied from `binary`."""
    t = TARGETS[target]
    name = Path(t.get("source") or t["binary"]).resolve().name
    return f"artifacts/{target}/bin/{name}"


def probe_files():
    """Every probe file of the config: they are not build inputs of a source folder."""
    return {Path(p).resolve() for t in TARGETS.values() for p in t["probes"].values()}


def source_files(target):
    """The files under a source target's folder, so that editing any rebuilds it."""
    src = Path(TARGETS[target]["source"])
    if not src.is_dir():
        raise WorkflowError(f"target {target}: source {src} is not a directory")
    skip = probe_files()
    return sorted(
        str(p)
        for p in src.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(src).parts)
        and p.resolve() not in skip
    )


def probe_file(wildcards):
    """The probe file of one probe set of one target."""
    return TARGETS[wildcards.target]["probes"][wildcards.probes]


def capture_command(wildcards, input):
    """The target's command line, shell-quoted, with {binary} replaced."""
    argv = TARGETS[wildcards.target]["command"]
    return shlex.join(a.replace("{binary}", input.binary) for a in argv)


def capture_options(wildcards):
    """Extra `godi capture` options from the target's config."""
    duration = TARGETS[wildcards.target].get("duration")
    return f"--duration {duration}" if duration is not None else ""


def decode_options(wildcards):
    """Extra `godi decode` options (service and tags) from the target's config."""
    t = TARGETS[wildcards.target]
    options = []
    if "service" in t:
        options += ["--service", t["service"]]
    if "tags" in t:
        options += ["--tags", ",".join(t["tags"])]
    return shlex.join(options)


def all_snapshots():
    """snapshots.json of every probe set of every target: what `snakemake` builds."""
    return [
        f"artifacts/{target}/{probes}/snapshots.json"
        for target, t in TARGETS.items()
        for probes in t["probes"]
    ]
