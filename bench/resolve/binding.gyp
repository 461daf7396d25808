# The resolve benchmark's own addon (bench/resolve/bench.cc) over a tiny C
# "library" with synchronous callbacks (clib.c). Built against the package's
# public headers like any consumer addon:
#   cd bench/resolve && npx node-gyp rebuild --nodedir=/usr
# (run.js does it when build/ is missing).
{
  'targets': [{
    'target_name': 'resolve_bench',
    'sources': ['bench.cc', 'clib.c'],
    'include_dirs': [
      "<!(node -p \"require('node-addon-api').include_dir\")",
      '../../native/include',
    ],
    'defines': ['NAPI_VERSION=8', 'NAPI_DISABLE_CPP_EXCEPTIONS', 'NDEBUG'],
    'cflags': ['-O2'],
    'cflags_cc!': ['-std=gnu++17'],
    'cflags_cc': ['-std=c++17', '-O2', '-Wall', '-Wextra'],
    'xcode_settings': {
      'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
      'MACOSX_DEPLOYMENT_TARGET': '10.15',
    },
  }],
}
