#!/usr/bin/env bash
# Build the tutorial's website into docs/_build/html/ (open index.html; it works offline).
#   bash docs/build.sh          the notebooks executed in full (the real tutorial)
#   bash docs/build.sh --quick  quick mode (GC_TUTORIAL_QUICK=1): synthetic data, for CI
# Needs the docs tools: pip install -e ".[docs]". The steps are in docs/build_site.py.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  "" | --quick) ;;
  *) echo "Usage: bash docs/build.sh [--quick]; got: $*" >&2; exit 2 ;;
esac
exec python docs/build_site.py "$@"
