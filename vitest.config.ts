// CommonJS syntax: package.json has no "type": "module", so an ESM config makes
// Vite warn when it loads this file.
const { defineConfig } = require('vitest/config') as typeof import('vitest/config')

module.exports = defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Workers/weak tests run the built package (dist/). `npm test` builds first;
    // this setup rebuilds only when dist/ is missing or older than src/.
    globalSetup: ['test/fixtures/global-setup.ts'],
  },
})
