'use strict'
// ESM entry re-exports the CommonJS build so `import` and `require` share one
// module instance (one default domain, one addon load): no dual-package hazard.
const fs = require('fs')
const path = require('path')
const dist = path.join(__dirname, '..', 'dist')
const cjs = require(path.join(dist, 'index.js'))
const names = Object.keys(cjs).filter((n) => n !== 'default' && n !== '__esModule')
const src = `import cjs from './index.js'\n` +
  `export const { ${names.join(', ')} } = cjs\n` +
  `export default cjs\n`
fs.writeFileSync(path.join(dist, 'index.mjs'), src)
