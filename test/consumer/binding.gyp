# Two consumer addons built against handle-registry's public header, plus a
# variant of each that expects another C ABI version (to test the mismatch
# error). The handle-registry part is the one include_dirs line below.
{
  'target_defaults': {
    'include_dirs': ["<!(node -p \"require('handle-registry').include_dir\")"],
    'defines': ['NAPI_VERSION=8'],
    'cflags_cc!': ['-std=gnu++17'],
    'cflags_cc': ['-std=c++17', '-Wall', '-Wextra', '-Wpedantic', '-Werror'],
    'xcode_settings': {
      'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
      'MACOSX_DEPLOYMENT_TARGET': '10.15',
      'OTHER_CPLUSPLUSFLAGS': ['-Wall', '-Wextra', '-Wpedantic', '-Werror'],
    },
    'msvs_settings': {
      'VCCLCompilerTool': { 'AdditionalOptions': ['/std:c++17'] },
    },
  },
  'targets': [
    {
      # node-addon-api, C++ exceptions on.
      'target_name': 'consumer_a',
      'sources': ['src/consumer_addon_api.cc'],
      'include_dirs': ["<!(node -p \"require('node-addon-api').include_dir\")"],
      'defines': ['NODE_ADDON_API_CPP_EXCEPTIONS'],
      'cflags!': ['-fno-exceptions'],
      'cflags_cc!': ['-fno-exceptions'],
      'xcode_settings': { 'GCC_ENABLE_CPP_EXCEPTIONS': 'YES' },
      'msvs_settings': { 'VCCLCompilerTool': { 'ExceptionHandling': 1 } },
    },
    {
      # Plain N-API, node-gyp's default flags (-fno-exceptions -fno-rtti).
      'target_name': 'consumer_b',
      'sources': ['src/consumer_napi.cc'],
    },
    {
      'target_name': 'consumer_a_abi2',
      'sources': ['src/consumer_addon_api.cc'],
      'include_dirs': ["<!(node -p \"require('node-addon-api').include_dir\")"],
      'defines': ['NODE_ADDON_API_CPP_EXCEPTIONS', 'HR_ABI_VERSION_OVERRIDE=2'],
      'cflags!': ['-fno-exceptions'],
      'cflags_cc!': ['-fno-exceptions'],
      'xcode_settings': { 'GCC_ENABLE_CPP_EXCEPTIONS': 'YES' },
      'msvs_settings': { 'VCCLCompilerTool': { 'ExceptionHandling': 1 } },
    },
    {
      'target_name': 'consumer_b_abi2',
      'sources': ['src/consumer_napi.cc'],
      'defines': ['HR_ABI_VERSION_OVERRIDE=2'],
    },
  ],
}
