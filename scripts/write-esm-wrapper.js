'use strict'
// ESM entry re-exports the CommonJS build so `import` and `require` share one
// module instance (one default domain, one addon load): no dual-package hazard.
// index.d.mts gives `import` users ESM types for that entry: the CJS index.d.ts
// under the import condition would be "masquerading as CJS" (attw).
const fs = require('fs')
const path = require('path')
const dist = path.join(__dirname, '..', 'dist')
const cjs = require(path.join(dist, 'index.js'))
const names = Object.keys(cjs).filter((n) => n !== 'default' && n !== '__esModule')
const src = `import cjs from './index.js'\n` +
  `export const { ${names.join(', ')} } = cjs\n` +
  `export default cjs\n`
fs.writeFileSync(path.join(dist, 'index.mjs'), src)
fs.writeFileSync(path.join(dist, 'index.d.mts'),
  `export * from './index.js'\n` +
  `import * as cjs from './index.js'\n` +
  `export default cjs\n`)
