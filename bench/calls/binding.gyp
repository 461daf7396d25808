# The calls benchmark's own addon (bench/calls/bench.cc): native caller
# threads making blocking calls through this library's api->call, and the
# same calls as a blocking thread-safe-function round trip. Built against the
# package's public headers like any consumer addon:
#   cd bench/calls && npx node-gyp rebuild --nodedir=/usr
# (run.js does it when build/ is missing).
{
  'targets': [{
    'target_name': 'calls_bench',
    'sources': ['bench.cc'],
    'include_dirs': ['../../native/include'],
    'defines': ['NAPI_VERSION=8', 'NDEBUG'],
    'cflags_cc!': ['-std=gnu++17'],
    'cflags_cc': ['-std=c++17', '-O2', '-Wall', '-Wextra'],
    'xcode_settings': {
      'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
      'MACOSX_DEPLOYMENT_TARGET': '10.15',
    },
  }],
}
