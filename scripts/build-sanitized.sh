#!/usr/bin/env bash
# Builds the addon of native/src with sanitizers into build-<variant>/
# (gitignored), for scripts/run-tests.js's sanitizer suite:
#
#   scripts/build-sanitized.sh asan   # -fsanitize=address,undefined
#   scripts/build-sanitized.sh tsan   # -fsanitize=thread
#   scripts/build-sanitized.sh noext  # no sanitizer: -DNODE_API_NO_EXTERNAL_BUFFERS_ALLOWED
#                                     # (Electron's memory cage; JS-owned buffers)
#
# The same sources, defines and include paths as binding.gyp, compiled directly
# with $CXX (no node-gyp: a second configure would fight over build/). Rebuilt
# only when a source or header is newer than the output. Prints the path of the
# .node file. Load it with HANDLE_REGISTRY_ADDON=<path> and the matching
# runtime in LD_PRELOAD (node itself is not instrumented).
set -euo pipefail
cd "$(dirname "$0")/.."

variant=${1:?usage: build-sanitized.sh asan|tsan|noext}
CXX=${CXX:-g++}
case $variant in
  asan) SAN=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer) ;;
  tsan) SAN=(-fsanitize=thread) ;;
  noext) SAN=(-DNODE_API_NO_EXTERNAL_BUFFERS_ALLOWED) ;;
  *) echo "unknown variant: $variant" >&2; exit 2 ;;
esac
out=build-$variant/handle_registry.node
nodedir=${npm_config_nodedir:-}
if [ -z "$nodedir" ]; then
  if [ -f /usr/include/node/node_api.h ]; then nodedir=/usr; else nodedir=$(dirname "$(dirname "$(command -v node)")"); fi
fi
napi=$(node -p "require('node-addon-api').include_dir")
srcs=(native/src/*.cc)
if [ -f "$out" ] && [ -z "$(find native/src native/include binding.gyp "$0" -newer "$out" -print -quit)" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "build-$variant"
"$CXX" -shared -fPIC -std=c++17 -O1 -g -Wall -Wextra "${SAN[@]}" \
  -DNAPI_VERSION=8 -DNAPI_DISABLE_CPP_EXCEPTIONS \
  -I"$napi" -Inative/include -I"$nodedir/include/node" \
  "${srcs[@]}" -o "$out.tmp" -ldl -pthread >&2
mv "$out.tmp" "$out"
echo "$out"
