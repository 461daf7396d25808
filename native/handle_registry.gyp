# For addons built against handle-registry's public header. In your binding.gyp:
#   'dependencies': ["<!(node -p \"require('handle-registry').gyp\")"]
# or just the include path:
#   'include_dirs': ["<!(node -p \"require('handle-registry').include_dir\")"]
{
  'targets': [
    {
      'target_name': 'handle_registry_headers',
      'type': 'none',
      'direct_dependent_settings': {
        'include_dirs': ['include'],
      },
    },
  ],
}
