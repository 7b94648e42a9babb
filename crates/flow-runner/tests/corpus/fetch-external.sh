#!/usr/bin/env bash
# Downloads the flows listed in external.tsv (repositories whose licence does not allow keeping a
# copy here) into DIR, each at its commit, for `flow-runner check DIR`.
set -euo pipefail
dir="${1:?usage: fetch-external.sh DIR}"
mkdir -p "$dir"
here="$(cd "$(dirname "$0")" && pwd)"
failed=0
while IFS=$'\t' read -r repo path commit _licence; do
  out="$dir/$(echo "$repo/$path" | tr '/ ' '__')"
  url="https://raw.githubusercontent.com/$repo/$commit/$(printf '%s' "$path" | sed 's/ /%20/g')"
  if curl -fsSL "$url" -o "$out"; then
    echo "fetched $out"
  else
    echo "could not fetch $url" >&2
    rm -f "$out"
    failed=$((failed + 1))
  fi
done < <(tail -n +2 "$here/external.tsv")
[[ $failed -eq 0 ]] || { echo "$failed file(s) not fetched" >&2; exit 1; }
