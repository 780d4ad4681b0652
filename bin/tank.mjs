#!/usr/bin/env node
// The `tank` bin: the bundled CLI (built by `npm run build` into dist/tank.mjs).
import "../dist/tank.mjs"
