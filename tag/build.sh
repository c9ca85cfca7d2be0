#!/bin/sh
# Rebuild the tag from a clean, locked install of the pinned esbuild.
# Usage: tag/build.sh [--out DIR]   (a relative DIR is taken from the caller's directory)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
(cd "$here" && npm ci --no-audit --no-fund)
exec node "$here/build.mjs" "$@"
