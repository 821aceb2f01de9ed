#!/usr/bin/env bash
# Checks the event contract in proto-schemas/:
#   1. `buf format`: the files are in canonical format;
#   2. `buf lint`: naming, layout and documentation rules (proto-schemas/buf.yaml);
#   3. `buf breaking`: the working tree is backward compatible with EVERY earlier
#      committed version of proto-schemas/, not just the last one, so a change that is
#      compatible with the previous commit but not with an older one (e.g. re-adding a
#      field number that an earlier commit removed) is still caught.
# Runs offline: buf comes from the npm package @bufbuild/buf, installed once into
# .tools/buf (git-ignored), and the module has no remote (BSR) dependencies.
# Usage: scripts/check-schemas.sh
set -euo pipefail

BUF_VERSION=1.75.0
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUF_DIR="$ROOT/.tools/buf"
BUF="$BUF_DIR/node_modules/.bin/buf"

if [[ ! -x "$BUF" ]] || [[ "$("$BUF" --version 2>/dev/null)" != "$BUF_VERSION" ]]; then
  echo "==> installing buf $BUF_VERSION into .tools/buf"
  npm install --prefix "$BUF_DIR" --no-audit --no-fund --silent "@bufbuild/buf@$BUF_VERSION"
fi

cd "$ROOT/proto-schemas"

echo "==> buf format"
"$BUF" format --diff --exit-code

echo "==> buf lint"
"$BUF" lint

echo "==> buf breaking (against every earlier version of proto-schemas/)"
if [[ "$(git -C "$ROOT" rev-parse --is-shallow-repository)" == "true" ]]; then
  echo "note: this clone is shallow; only the versions present in it are checked" \
    "(run 'git fetch --unshallow' for the full check)"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

checked=0
failed=()
declare -A seen_trees=()
while read -r commit; do
  [[ -n "$commit" ]] || continue
  # Many commits share the same proto-schemas/ tree; check each distinct tree once.
  tree=$(git -C "$ROOT" rev-parse --verify --quiet "$commit:proto-schemas" || true)
  [[ -n "$tree" && -z "${seen_trees[$tree]:-}" ]] || continue
  seen_trees[$tree]=1

  against="$work/$commit"
  mkdir -p "$against"
  git -C "$ROOT" archive "$commit" proto-schemas | tar -x -C "$against"
  if [[ -z "$(find "$against/proto-schemas" -name '*.proto' -print -quit)" ]]; then
    continue # that commit had no schemas yet
  fi

  checked=$((checked + 1))
  short=$(git -C "$ROOT" log -1 --format='%h %s' "$commit")
  # The rules come from the working tree's buf.yaml; the old version is only the baseline.
  if "$BUF" breaking . --against "$against/proto-schemas"; then
    echo "ok: compatible with $short"
  else
    echo "BREAKING: not compatible with $short" >&2
    failed+=("$short")
  fi
done < <(git -C "$ROOT" log --format=%H -- proto-schemas 2>/dev/null)

if [[ $checked -eq 0 ]]; then
  echo "note: no earlier committed version of proto-schemas/ exists; nothing to compare with"
fi

if [[ ${#failed[@]} -gt 0 ]]; then
  echo >&2
  echo "error: proto-schemas/ breaks compatibility with ${#failed[@]} earlier version(s):" >&2
  printf '  %s\n' "${failed[@]}" >&2
  echo "Published schemas are forever: add fields instead of changing them, or start a" \
    "new package version (see proto-schemas/README.md, 'Evolution rules')." >&2
  exit 1
fi
echo "schemas ok: lint clean, compatible with $checked earlier version(s)"
