{
  'targets': [{
    'target_name': 'uv_timer',
    'sources': ['uv_timer.cc'],
    # The one line that gives this addon handle-registry's public headers
    # (plus node-addon-api's). <uv.h> comes with Node's own headers.
    'include_dirs': [
      "<!(node -p \"require('handle-registry').include_dir\")",
      "<!(node -p \"require('node-addon-api').include_dir\")",
    ],
    'defines': ['NAPI_VERSION=8', 'NAPI_DISABLE_CPP_EXCEPTIONS'],
    'cflags_cc!': ['-std=gnu++17'],
    'cflags_cc': ['-std=c++17', '-Wall', '-Wextra'],
    'xcode_settings': {
      'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
      'MACOSX_DEPLOYMENT_TARGET': '10.15',
    },
    'msvs_settings': {
      'VCCLCompilerTool': { 'AdditionalOptions': ['/std:c++17'] },
    },
  }],
}
