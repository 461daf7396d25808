{
  'targets': [{
    'target_name': 'posix_timer',
    'sources': ['posix_timer.cc', 'burst.cc'],
    # The one line that gives this addon handle-registry's public headers
    # (plus node-addon-api's).
    'include_dirs': [
      "<!(node -p \"require('handle-registry').include_dir\")",
      "<!(node -p \"require('node-addon-api').include_dir\")",
    ],
    'defines': ['NAPI_VERSION=8', 'NAPI_DISABLE_CPP_EXCEPTIONS'],
    'cflags_cc!': ['-std=gnu++17'],
    'cflags_cc': ['-std=c++17', '-Wall', '-Wextra'],
    # timer_create/timer_settime live in librt before glibc 2.34 (in libc since).
    'libraries': ['-lrt', '-pthread'],
  }],
}
