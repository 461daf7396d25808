# Test-only addon: native producer threads for the package's own tests
# (test/native-binding.test.ts, test/events.test.ts, test/fixtures/native-*.js).
# Built against the public C ABI only, like any other addon: it attaches to the
# loaded handle-registry addon through registry.nativeApi / native_api().
# Built by test/fixtures/producers.js (cached; never shipped, never in the
# product's binding.gyp).
{
  'targets': [{
    'target_name': 'hr_test_producers',
    'sources': ['producers.cc', 'resolve_calls.cc', 'hold_calls.cc', 'pressure_calls.cc', 'call_calls.cc', 'latch_calls.cc'],
    'include_dirs': [
      "<!(node -p \"require('node-addon-api').include_dir\")",
      '../../native/include',
    ],
    # SWALLOW_UNTHROWABLE_EXCEPTIONS: a worker's JS thread that returns from a
    # blocking api->call while its env is terminating cannot throw any more
    # (call_calls.cc): without it node-addon-api aborts the process.
    'defines': ['NAPI_VERSION=8', 'NAPI_DISABLE_CPP_EXCEPTIONS', 'NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS'],
    'cflags!': ['-fno-exceptions'],
    'cflags_cc!': ['-fno-exceptions', '-std=gnu++17'],
    'cflags_cc': ['-std=c++17', '-Wall', '-Wextra', '-Werror'],
    'conditions': [
      ["OS=='linux'", { 'libraries': ['-ldl'] }],
    ],
    'xcode_settings': {
      'GCC_ENABLE_CPP_EXCEPTIONS': 'YES',
      'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
      'MACOSX_DEPLOYMENT_TARGET': '10.15',
    },
    'msvs_settings': {
      'VCCLCompilerTool': { 'ExceptionHandling': 1, 'AdditionalOptions': ['/std:c++17'] },
    },
  }],
}
