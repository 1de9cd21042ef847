#!/usr/bin/env bash
# `npm run setup`: installs the system tools the tests need (scripts/tools.txt) with apt-get, on Debian or
# Ubuntu. Only what is missing is installed; `apt-get update` runs once, and only then.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '==> %s\n' "$*"; }

missing=()
while read -r command package; do
  [[ -z $command || $command == \#* ]] && continue
  if command -v "$command" >/dev/null 2>&1; then
    say "$command: found at $(command -v "$command")"
  else
    say "$command: missing, will install apt package $package"
    missing+=("$package")
  fi
done < scripts/tools.txt
((${#missing[@]} > 0)) || { say "every tool is installed"; exit 0; }

if [[ $(id -u) -eq 0 ]]; then
  run=()
elif command -v sudo >/dev/null 2>&1; then
  run=(sudo)
else
  echo "setup: installing ${missing[*]} needs root (or sudo)" >&2
  exit 1
fi
say "apt-get update"
"${run[@]}" apt-get update -qq
say "apt-get install ${missing[*]}"
"${run[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"

# The tests start their own redis-server on free ports; the package may have started a system one.
if [[ " ${missing[*]} " == *" redis-server "* ]]; then
  say "stopping the system redis-server the package started"
  "${run[@]}" service redis-server stop >/dev/null 2>&1 || true
fi
