#!/usr/bin/env bash
# Creates .venv (once) and installs the locked dependencies plus this project
# into it. Re-runs are cheap: the install is skipped while requirements.lock and
# pyproject.toml are unchanged. Usage: scripts/bootstrap.sh   (prints the venv path)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BATCHDIAL_VENV:-$root/.venv}"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "batchdial needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv" >&2
fi
stamp="$venv/.batchdial-installed"
want="$(cat "$root/requirements.lock" "$root/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$venv/bin/python" -m pip install --quiet --upgrade pip >&2 || true
  "$venv/bin/python" -m pip install --quiet -r "$root/requirements.lock" >&2
  "$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$root" >&2 \
    || "$venv/bin/python" -m pip install --quiet --no-deps -e "$root" >&2
  echo "$want" > "$stamp"
fi
echo "$venv"
