#!/usr/bin/env bash
# Build the one-folder app into dist/wavescope/ from a clean build venv under build/.
#   bash packaging/build.sh            (PYTHON=python3.11 bash packaging/build.sh to pick the interpreter)
# The interpreter must have a shared libpython (PyInstaller needs it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/build/venv"
started=$(date +%s)

if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating the build venv in $VENV"
    "$PYTHON" -m venv "$VENV"
fi
echo "== installing wavescope and pyinstaller"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "$ROOT" "pyinstaller>=6.3"
installed=$(date +%s)

echo "== running pyinstaller"
"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
    --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" \
    "$ROOT/packaging/wavescope.spec"
finished=$(date +%s)

echo "== built $ROOT/dist/wavescope ($(du -sh "$ROOT/dist/wavescope" | cut -f1))"
echo "   install $((installed - started)) s, pyinstaller $((finished - installed)) s"
