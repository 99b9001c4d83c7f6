#!/usr/bin/env node
'use strict';
// Starts telegram-test-api@4.2.1 behind Aura's compatibility layer (layer.js) on 127.0.0.1.
//   PORT=0 node server.js        -> prints exactly one stdout line: {"ready":true,"port":<n>}
// Env: PORT (0/unset = free port), AURA_TG_LOG=1 (log to stderr), AURA_TG_STORE_TIMEOUT (s, emulator
// storage lifetime, default 3600), AURA_TG_BOT_USERNAME / AURA_TG_BOT_NAME (getMe identity),
// AURA_TG_KEEP_ORPHAN=1 (do not exit when the parent process goes away).
// Everything except the ready line goes to stderr.

const { Layer } = require('./layer');

const verbose = /^(1|true|yes)$/i.test(process.env.AURA_TG_LOG || '');
const log = verbose ? (...a) => process.stderr.write(`[telegram-peer] ${a.join(' ')}\n`) : () => {};

// never crash on bad input: log and keep serving
process.on('uncaughtException', (e) => process.stderr.write(`[telegram-peer] uncaught: ${(e && e.stack) || e}\n`));
process.on('unhandledRejection', (e) => process.stderr.write(`[telegram-peer] unhandled rejection: ${(e && e.stack) || e}\n`));

const port = Number.parseInt(process.env.PORT || '0', 10) || 0;
let layer;
try {
  layer = new Layer({
    host: '127.0.0.1',
    port,
    storeTimeout: Number.parseInt(process.env.AURA_TG_STORE_TIMEOUT || '3600', 10) || 3600,
    botUsername: process.env.AURA_TG_BOT_USERNAME || undefined,
    botFirstName: process.env.AURA_TG_BOT_NAME || undefined,
    log,
  });
} catch (e) {
  process.stderr.write(`[telegram-peer] failed to start: ${(e && e.stack) || e}\n`);
  process.exit(1);
}

let stopping = false;
function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  log(`${signal}: stopping`);
  const force = setTimeout(() => process.exit(0), 2000);
  force.unref();
  layer.stop().catch(() => {}).finally(() => process.exit(0));
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

layer.start().then((p) => {
  process.stdout.write(`${JSON.stringify({ ready: true, port: p })}\n`);
  log(`listening on 127.0.0.1:${p}`);
  // a test harness that dies without killing us must not leave us running
  if (!/^(1|true|yes)$/i.test(process.env.AURA_TG_KEEP_ORPHAN || '')) {
    const parent = process.ppid;
    setInterval(() => { if (process.ppid !== parent) shutdown('parent exited'); }, 1000).unref();
  }
}).catch((e) => {
  process.stderr.write(`[telegram-peer] failed to start: ${(e && e.stack) || e}\n`);
  process.exit(1);
});
