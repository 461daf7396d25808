{
  # Electron variant (its V8 memory cage forbids external ArrayBuffers):
  # HANDLE_REGISTRY_NO_EXTERNAL_BUFFERS=1 in the environment, or
  # `node-gyp rebuild -- -Dno_external_buffers=1`, defines NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED.
  'variables': {
    'no_external_buffers%': '<!(node -p "process.env.HANDLE_REGISTRY_NO_EXTERNAL_BUFFERS === \'1\' ? 1 : 0")',
  },
  'targets': [{
    'target_name': 'handle_registry',
    'sources': [
      'native/src/addon.cc',
      'native/src/event_path.cc',
      'native/src/owners.cc',
      'native/src/post.cc',
      'native/src/post_wait.cc',
      'native/src/resolve.cc',
      'native/src/hold.cc',
      'native/src/calls.cc',
    ],
    'include_dirs': [
      "<!(node -p \"require('node-addon-api').include_dir\")",
      'native/include',
    ],
    # node-addon-api without C++ exceptions (errors are pending JS exceptions);
    # our own code is built with exceptions only to catch std::bad_alloc and
    # std::system_error at the boundary: nothing is thrown across it.
    'defines': ['NAPI_VERSION=8', 'NAPI_DISABLE_CPP_EXCEPTIONS'],
    'cflags!': ['-fno-exceptions'],
    'cflags_cc!': ['-fno-exceptions', '-std=gnu++17'],
    # Hidden visibility: only the module's init is exported, so the addon's
    # globals (the block and owner tables every post and resolve reads) are
    # reached directly rather than through the GOT.
    'cflags': ['-fvisibility=hidden'],
    'cflags_cc': ['-std=c++17', '-Wall', '-Wextra', '-fvisibility=hidden', '-fvisibility-inlines-hidden'],
    'conditions': [
      ["OS=='linux'", { 'libraries': ['-ldl'] }],  # dladdr/dlopen (pin_module) on glibc < 2.34
      ['no_external_buffers==1', { 'defines': ['NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED'] }],
    ],
    'xcode_settings': {
      'GCC_ENABLE_CPP_EXCEPTIONS': 'YES',
      'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
      'MACOSX_DEPLOYMENT_TARGET': '10.15',
      'GCC_SYMBOLS_PRIVATE_EXTERN': 'YES',
      'OTHER_CPLUSPLUSFLAGS': ['-Wall', '-Wextra'],
    },
    'msvs_settings': {
      'VCCLCompilerTool': { 'ExceptionHandling': 1, 'AdditionalOptions': ['/std:c++17'] },
    },
  }],
}
