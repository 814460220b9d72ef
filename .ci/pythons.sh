# shellcheck shell=bash
# Find the Python interpreters of the version matrix (tox.ini) and link them into one folder.
#
#   source .ci/pythons.sh
#   octane_find_pythons DIR 3.11 3.12 3.13   # links DIR/python3.11 ...; put DIR first on PATH
#
# Each version comes from pyenv ($(pyenv root)/versions/3.X.*, the newest patch release
# first), else from PATH (python3.X). Prints where each one is; for each one missing prints
# a line naming it and what to do, and returns non-zero once all were looked for.
# OCTANE_MISSING_PYTHONS is left holding the missing versions (space-separated).
# Meant to be sourced by bash; it never calls `exit` and leaves `set -e/-u` alone.

octane_find_pythons() {
  local dir=$1 minor candidate found root
  shift
  OCTANE_MISSING_PYTHONS=""
  root=$(pyenv root 2>/dev/null) || root=""
  mkdir -p "$dir" || return 1
  for minor in "$@"; do
    found=""
    local candidates=()
    if [ -n "$root" ]; then
      while IFS= read -r candidate; do
        candidates+=("$candidate")
      done < <(ls -d "$root"/versions/"$minor".*/bin/python"$minor" 2>/dev/null | sort -V -r)
    fi
    if candidate=$(command -v "python$minor" 2>/dev/null); then
      candidates+=("$candidate")
    fi
    for candidate in "${candidates[@]}"; do
      # a pyenv shim of a version that is not installed fails here
      if "$candidate" -c "import sys; sys.exit('%d.%d' % sys.version_info[:2] != '$minor')" \
        >/dev/null 2>&1; then
        found=$candidate
        break
      fi
    done
    if [ -n "$found" ]; then
      ln -sfn "$found" "$dir/python$minor"
      echo "pythons: Python $minor is $found"
    else
      OCTANE_MISSING_PYTHONS="${OCTANE_MISSING_PYTHONS:+$OCTANE_MISSING_PYTHONS }$minor"
      echo "pythons: FAILED: Python $minor not found (looked in" \
        "${root:-<no pyenv>}/versions/$minor.*/bin and for python$minor on PATH):" \
        "install it, e.g. 'pyenv install $minor'"
    fi
  done
  [ -z "$OCTANE_MISSING_PYTHONS" ]
}
