#!/usr/bin/env bash
# The Python SDK's environment: a venv in clients/python/.venv (git-ignored) with the package
# installed editable and its dev extras (grpcio-tools, pytest, mypy, ruff). Re-runs only when
# pyproject.toml changed since the last install.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pkg="$root/clients/python"
venv="$pkg/.venv"
stamp="$venv/.installed"
py="${PYTHON:-}"
if [ -z "$py" ]; then
  for c in python3.13 python3.12 python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      py="$c"
      break
    fi
  done
fi
if [ -z "$py" ]; then
  echo "install-python-deps: Python 3.11 or newer is needed" >&2
  exit 1
fi
if [ -f "$stamp" ] && [ "$stamp" -nt "$pkg/pyproject.toml" ] && [ -x "$venv/bin/python" ]; then
  exit 0
fi
if ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  # Debian splits venv out of the interpreter
  "$root/scripts/apt-install.sh" python3-venv
fi
echo "setting up the Python SDK in $venv"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$pkg[dev]"
touch "$stamp"
