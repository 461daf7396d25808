'use strict'
// A worker that owns a registry: it sends one live handle to the parent,
// then ends when told to (its registries are closed with it).
const { parentPort } = require('node:worker_threads')
const { HandleRegistry } = require('handle-registry')

const registry = new HandleRegistry()
registry.onEvent(() => {})
parentPort.postMessage(registry.register({ owner: 'worker' }))
parentPort.once('message', () => parentPort.close())
