# The events benchmark's own addon (bench/events/bench.cc): a native producer
# thread for each path (this library's C ABI, TSFN per event, hand-batched
# TSFN), and producers_bench (producers.cc: many producer threads). Built against the package's public headers like any consumer addon:
#   cd bench/events && npx node-gyp rebuild --nodedir=/usr
# (run.js does it when build/ is missing).
{
  'targets': [{
    'target_name': 'events_bench',
    'sources': ['bench.cc'],
    'include_dirs': [
      "<!(node -p \"require('node-addon-api').include_dir\")",
      '../../native/include',
    ],
    'defines': ['NAPI_VERSION=8', 'NAPI_DISABLE_CPP_EXCEPTIONS', 'NDEBUG'],
    'cflags_cc!': ['-std=gnu++17'],
    'cflags_cc': ['-std=c++17', '-O2', '-Wall', '-Wextra'],
    'xcode_settings': {
      'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
      'MACOSX_DEPLOYMENT_TARGET': '10.15',
    },
  }, {
    'target_name': 'producers_bench',
    'sources': ['producers.cc'],
    'include_dirs': [
      "<!(node -p \"require('node-addon-api').include_dir\")",
      '../../native/include',
    ],
    'defines': ['NAPI_VERSION=8', 'NAPI_DISABLE_CPP_EXCEPTIONS', 'NDEBUG'],
    'cflags_cc!': ['-std=gnu++17'],
    'cflags_cc': ['-std=c++17', '-O2', '-Wall', '-Wextra'],
    'xcode_settings': {
      'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
      'MACOSX_DEPLOYMENT_TARGET': '10.15',
    },
  }],
}
