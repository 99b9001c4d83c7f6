#!/usr/bin/env bash
# Installs the Synapse homeserver used by the Matrix tests into a cached venv and prints the venv's path.
# The cache survives clones on the same machine: AURA_PEERS_CACHE, else $XDG_CACHE_HOME or ~/.cache.
set -euo pipefail
version=1.163.2
cache="${AURA_PEERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aura-test-peers}"
venv="$cache/synapse-$version"
mkdir -p "$cache"
# Parallel tests may call this at once: one installs, the others wait.
exec 9>"$cache/.synapse.lock"
flock 9
if [ ! -f "$venv/.installed" ]; then
  echo "synapse: installing matrix-synapse $version into $venv (about 35 s)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "matrix-synapse==$version" >&2
  touch "$venv/.installed"
fi
echo "$venv"
