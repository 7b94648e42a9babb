#!/usr/bin/env bash
# Downloads the flows listed in external.tsv (repositories whose licence does not allow keeping a
# copy here) into DIR, each at its commit, for `flow-runner check DIR`.
set -euo pipefail
dir="${1:?usage: fetch-external.sh DIR}"
mkdir -p "$dir"
here="$(cd "$(dirname "$0")" && pwd)"
tail -n +2 "$here/external.tsv" | while IFS=$'\t' read -r repo path commit _licence; do
  out="$dir/$(echo "$repo/$path" | tr '/ ' '__')"
  url="https://raw.githubusercontent.com/$repo/$commit/$(printf '%s' "$path" | sed 's/ /%20/g')"
  curl -fsSL "$url" -o "$out" && echo "fetched $out" || echo "could not fetch $url" >&2
done
