# Sourced by ./partnerhub and ./run-tests: make sure .venv exists with the project installed.
# Argument: the pip extras to install ("" for the service, "test" for the test suite).
# Re-installs only when pyproject.toml changed since the last install.
_extras="${1:-}"
_here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_python="${PYTHON:-python3}"
_stamp="$_here/.venv/.installed-${_extras:-base}"
if [ ! -x "$_here/.venv/bin/python" ]; then
  "$_python" -m venv "$_here/.venv"
fi
if [ ! -f "$_stamp" ] || [ "$_here/pyproject.toml" -nt "$_stamp" ]; then
  echo "Installing PartnerHub into .venv (first run only)..." >&2
  "$_here/.venv/bin/python" -m pip install -q --upgrade pip >&2
  if [ -n "$_extras" ]; then
    "$_here/.venv/bin/python" -m pip install -q -e "$_here[$_extras]" >&2
  else
    "$_here/.venv/bin/python" -m pip install -q -e "$_here" >&2
  fi
  touch "$_stamp"
fi
