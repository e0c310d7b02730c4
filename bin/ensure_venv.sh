# Sourced by bin/quickstart and bin/test: makes sure .venv exists and matches
# requirements.txt, then exports PYTHON (the venv's interpreter).
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$repo/requirements.txt" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Setting up $venv from requirements.txt (first run takes a few minutes)..." >&2
  python3 -m venv "$venv" || exit 1
  "$venv/bin/python" -m pip install --quiet --upgrade pip >&2 || exit 1
  "$venv/bin/python" -m pip install --quiet -r "$repo/requirements.txt" >&2 || exit 1
  echo "$want" > "$stamp"
fi
export PYTHON="$venv/bin/python"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
