{
  'targets': [{
    'target_name': 'qsort_compare',
    'sources': ['qsort_compare.cc'],
    # The one line that gives this addon handle-registry's public headers
    # (plus node-addon-api's). qsort_r comes with glibc.
    'include_dirs': [
      "<!(node -p \"require('handle-registry').include_dir\")",
      "<!(node -p \"require('node-addon-api').include_dir\")",
    ],
    'defines': ['NAPI_VERSION=8', 'NAPI_DISABLE_CPP_EXCEPTIONS'],
    'cflags_cc!': ['-std=gnu++17'],
    'cflags_cc': ['-std=c++17', '-Wall', '-Wextra'],
  }],
}
