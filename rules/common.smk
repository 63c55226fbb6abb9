# Helpers of the Snakefile: where each target's files live, read from the validated
# config. Paths of outputs and of the config's inputs are relative to the working
# directory (the repository root, or a project of one's own with -d / a cd); godi's
# own files (scripts, toolchains) are found from the Snakefile, so the pipeline
# runs from anywhere.
#
# A target of the config becomes one *instance* per Go release: a source target
# named `shop` with `go: ["1.22.10", "1.27.3"]` is built and captured twice, as
# artifacts/shop/go1.22.10/ and artifacts/shop/go1.27.3/; a prebuilt `binary`
# target is one instance, artifacts/<target>/. The rules' {target} wildcard is an
# instance name: "shop/go1.27.3", or the target's name for a binary.

import hashlib
import os
import re
import shlex
import shutil
from pathlib import Path

from snakemake.exceptions import WorkflowError

GODI_ROOT = Path(workflow.basedir)
GO_VERSIONS_FILE = GODI_ROOT / "scripts" / "go-versions.txt"
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
    base = GODI_ROOT
    files = [*(base / "stages").rglob("*.py"), *(base / "bpf").glob("*")]
    for path in sorted(p for p in files if p.is_file()):
        for part in (str(path.relative_to(base)).encode(), path.read_bytes()):
            digest.update(len(part).to_bytes(8, "little"))
            digest.update(part)
    return digest.hexdigest()[:16]


GODI_CODE = godi_fingerprint()


def go_releases(t):
    """The Go releases a source target is built with: `go` as a list, one, or the default."""
    go = t.get("go", DEFAULT_GO)
    return list(dict.fromkeys([go] if isinstance(go, str) else go))


def _instances():
    out = {}
    for name, t in TARGETS.items():
        for go in go_releases(t) if "source" in t else [None]:
            out[f"{name}/go{go}" if go else name] = {"name": name, "go": go, "conf": t}
    return out


INSTANCES = _instances()


def names_regex(names):
    """A wildcard constraint matching exactly these names (nothing when empty)."""
    names = sorted(set(names))
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


def target_config(instance):
    """The config entry of the target an instance comes from."""
    return INSTANCES[instance]["conf"]


def go_version(instance):
    """The Go version that builds a source instance."""
    return INSTANCES[instance]["go"]


def go_tool(instance):
    """The `go` command of a source instance's toolchain (see rule go_toolchain)."""
    return str(GODI_ROOT / ".tools" / "go" / go_version(instance) / "go" / "bin" / "go")


def binary(instance):
    """The instance's binary under artifacts/: built from `source` (named after its
    folder; `source: .` after the target, not after wherever the project is checked
    out, since the name is the snapshots' default service) or copied from `binary`."""
    t = target_config(instance)
    if "source" in t:
        name = Path(t["source"]).name
        if name in ("", ".", ".."):
            name = INSTANCES[instance]["name"]
    else:
        name = Path(t["binary"]).resolve().name
    return f"artifacts/{instance}/bin/{name}"


def probe_files():
    """Every probe file of the config: they are not build inputs of a source folder."""
    return {Path(p).resolve() for t in TARGETS.values() for p in t["probes"].values()}


def golden_roots():
    """Every golden directory of the config: goldens are not build inputs either."""
    return {Path(golden_config(name)["dir"]).resolve() for name in TARGETS}


def source_files(instance):
    """The files under a source target's folder, so that editing any rebuilds it."""
    src = Path(target_config(instance)["source"])
    if not src.is_dir():
        raise WorkflowError(f"target {INSTANCES[instance]['name']}: source {src} is not a directory")
    skip = probe_files()
    # Goldens and the pipeline's own outputs may sit inside a project's source folder
    # (`source: .`): writing them must not rebuild the program. Hidden entries
    # (.git, .snakemake) are not sources either.
    pruned = {*golden_roots(), Path("artifacts").resolve()}
    files = []
    for parent, dirs, names in os.walk(src):
        dirs[:] = sorted(
            d for d in dirs
            if not d.startswith(".") and Path(parent, d).resolve() not in pruned
        )
        files += [
            str(Path(parent, n)) for n in names
            if not n.startswith(".") and Path(parent, n).resolve() not in skip
        ]
    return sorted(files)


def probe_file(wildcards):
    """The probe file of one probe set of one instance."""
    return target_config(wildcards.target)["probes"][wildcards.probes]


def capture_command(wildcards, input):
    """The target's command line, shell-quoted, with {binary} replaced."""
    argv = target_config(wildcards.target)["command"]
    return shlex.join(a.replace("{binary}", input.binary) for a in argv)


def capture_options(wildcards):
    """Extra `godi capture` options from the target's config."""
    duration = target_config(wildcards.target).get("duration")
    return f"--duration {duration}" if duration is not None else ""


def decode_options(wildcards):
    """Extra `godi decode` options (service and tags) from the target's config."""
    t = target_config(wildcards.target)
    options = []
    if "service" in t:
        options += ["--service", t["service"]]
    if "tags" in t:
        options += ["--tags", ",".join(t["tags"])]
    return shlex.join(options)


def probe_sets(instances=None):
    """(instance, probe set) of every probe set of these instances (default: all)."""
    return [
        (i, probes)
        for i in (INSTANCES if instances is None else instances)
        for probes in INSTANCES[i]["conf"]["probes"]
    ]


def instances_of(name):
    """The instances of one target of the config."""
    return [i for i, v in INSTANCES.items() if v["name"] == name]


def all_snapshots():
    """snapshots.json of every probe set of every instance: what `snakemake` builds."""
    return [f"artifacts/{i}/{probes}/snapshots.json" for i, probes in probe_sets()]


def all_pages():
    """The report page of every probe set (see rule page)."""
    return [f"artifacts/{i}/{probes}/snapshots.html" for i, probes in probe_sets()]


# ----------------------------------------------------------------------- goldens


def golden_config(name):
    """A target's `golden` entry as a dict (`golden: DIR` is `{dir: DIR}`)."""
    g = TARGETS[name].get("golden", f"golden/{name}")
    return {"dir": g} if isinstance(g, str) else g


def golden_dir(instance, probes):
    """Where the goldens of one probe set of one instance live:
    <golden dir>/go<version>/<set>/ (a binary target: <golden dir>/<set>/)."""
    v = INSTANCES[instance]
    sub = [f"go{v['go']}"] if v["go"] else []
    return str(Path(golden_config(v["name"])["dir"], *sub, probes))


def golden_options(instance):
    """The `godi golden` normalisation options of an instance's target."""
    g = golden_config(INSTANCES[instance]["name"])
    options = []
    if g.get("ignore_lines"):
        options.append("--ignore-lines")
    if g.get("stack_depth") is not None:
        options += ["--stack-depth", str(g["stack_depth"])]
    for expr in g.get("mask", []):
        options += ["--mask", expr]
    if g.get("sort_snapshots"):
        options.append("--sort-snapshots")
    return shlex.join(options)


def golden_files(wildcards):
    """The goldens the check reads (regular, not hidden *.json), so that editing,
    adding or removing one reruns it."""
    d = Path(golden_dir(wildcards.target, wildcards.probes))
    if not d.is_dir():
        return []
    return sorted(
        str(p)
        for p in d.iterdir()
        if p.name.endswith(".json") and not p.name.startswith(".") and p.is_file()
        and not p.is_symlink()
    )


def golden_write_commands(instances):
    """The `godi golden -o` commands that regenerate the goldens of these instances."""
    commands = [
        " ".join([
            shlex.join(["godi", "golden", f"artifacts/{i}/{probes}/snapshots.json",
                        "-o", golden_dir(i, probes)]),
            golden_options(i),
        ]).strip()
        for i, probes in probe_sets(instances)
    ]
    return " && ".join(commands) or "true"


def golden_checks(instances):
    """The check stamps of these instances (see rule golden_check_set)."""
    return [f"artifacts/{i}/{probes}/golden-check.ok" for i, probes in probe_sets(instances)]


def _unique_golden_dirs():
    seen = {}
    for i, probes in probe_sets():
        d = Path(golden_dir(i, probes)).resolve()
        if d in seen:
            raise WorkflowError(
                f"{i} probe set {probes} and {seen[d][0]} probe set {seen[d][1]} would "
                f"share the golden directory {d}: give the targets different `golden` dirs"
            )
        seen[d] = (i, probes)


_unique_golden_dirs()


# ------------------------------------------------------------------------ report


def page_benchmarks(wildcards):
    """`--benchmark stage=TSV` options for the time and memory each stage of a probe
    set took (Snakemake benchmark files, written when each job ended)."""
    i, probes = wildcards.target, wildcards.probes
    prog = Path(binary(i)).name
    make = "build" if "source" in target_config(i) else "copy"
    tsvs = [
        (make, f"artifacts/{i}/benchmarks/{make}-{prog}.tsv"),
        ("irgen", f"artifacts/{i}/benchmarks/irgen.tsv"),
        *((s, f"artifacts/{i}/benchmarks/{probes}/{s}.tsv")
          for s in ("codegen", "capture", "decode", "status")),
    ]
    return shlex.join(a for stage, path in tsvs for a in ("--benchmark", f"{stage}={path}"))


def page_title(wildcards):
    """`target go<version> / set`: the page's heading."""
    v = INSTANCES[wildcards.target]
    go = f" go{v['go']}" if v["go"] else ""
    return f"{v['name']}{go} / {wildcards.probes}"
