// Shared by the WebSocket (sync protocol) checks: sync_client.test.mjs and
// sync_react.test.mjs. A script registers named checks with `test()` and
// calls `main()`, which prints the names (--list) or runs every check (or
// the one named), one line per check with the stack of any failure, and
// exits non-zero if a check failed.
//
//   node tests/js/<script> <deployment url> <admin key> [check name]
//   node tests/js/<script> --list

import assert from "node:assert/strict";
import WebSocket from "ws";

const [url, adminKey, only] = process.argv.slice(2);
export { url, adminKey };
const listOnly = url === "--list";
if (!listOnly && (!url || !adminKey)) {
  console.error("usage: node <script> <url> <admin key> [check name] | --list");
  process.exit(2);
}

const tests = [];
export const test = (name, fn) => tests.push({ name, fn });

// Every wait is bounded; a check as a whole too (the pytest side has its
// own, larger, subprocess timeout).
const CHECK_TIMEOUT_MS = 30_000;

export const uid = () => Math.random().toString(36).slice(2, 10);
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with `promise`, or rejects after `ms` naming `what`. */
export function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Runs `fn`, which must reject; returns the error. */
export async function rejects(fn, what) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new assert.AssertionError({ message: `expected ${what} to fail` });
}

/** Polls `get()` until `pred(value)` holds; returns the value. */
export async function eventually(get, pred, what, ms = 5000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await get();
    if (pred(last)) return last;
    await sleep(20);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}; last value ${show(last)}`);
}

export function show(value) {
  return JSON.stringify(value, (_, v) => (typeof v === "bigint" ? `${v}n` : v));
}

/**
 * A `ws` WebSocket that counts the sockets opened and the server messages
 * received by type, and keeps the last messages, so a check can tell what
 * reached the client on the wire (e.g. that no Transition arrived), not only
 * what its callbacks saw. Pass a fresh class per client:
 * `webSocketConstructor: recordingWebSocket()`; read `Class.stats`.
 */
export function recordingWebSocket() {
  // received: {type: count}; perSocket: one {type: count} per socket opened.
  const stats = { sockets: 0, received: {}, perSocket: [], messages: [] };
  class RecordingWebSocket extends WebSocket {
    constructor(...args) {
      super(...args);
      stats.sockets += 1;
      this.counts = {};
      stats.perSocket.push(this.counts);
    }
    set onmessage(handler) {
      super.onmessage = (event) => {
        try {
          const message = JSON.parse(event.data);
          stats.received[message.type] = (stats.received[message.type] ?? 0) + 1;
          this.counts[message.type] = (this.counts[message.type] ?? 0) + 1;
          stats.messages.push(message);
          if (stats.messages.length > 200) stats.messages.shift();
        } catch {
          // not JSON: the client will complain itself
        }
        return handler(event);
      };
    }
    get onmessage() {
      return super.onmessage;
    }
  }
  RecordingWebSocket.stats = stats;
  return RecordingWebSocket;
}

/** A protocol timestamp (base64 of a little-endian u64) as a BigInt. */
export function decodeTs(ts) {
  return Buffer.from(ts, "base64").readBigUInt64LE(0);
}

/** The admin API: list the server's sync connections, or drop them all. */
export async function admin(method, path) {
  const response = await fetch(`${url}/api/_admin/${path}`, {
    method,
    headers: { Authorization: `Convex ${adminKey}` },
  });
  assert.equal(response.status, 200, `${method} /api/_admin/${path}: ${await response.clone().text()}`);
  return await response.json();
}

export async function main() {
  if (listOnly) {
    console.log(JSON.stringify(tests.map((t) => t.name)));
    process.exit(0);
  }
  const selected = only === undefined ? tests : tests.filter((t) => t.name === only);
  if (selected.length === 0) {
    console.error(`no check named ${JSON.stringify(only)}`);
    process.exit(2);
  }
  let failed = 0;
  for (const { name, fn } of selected) {
    try {
      await within(fn(), CHECK_TIMEOUT_MS, `check ${JSON.stringify(name)}`);
      console.log(`ok   ${name}`);
    } catch (e) {
      failed += 1;
      console.log(`FAIL ${name}\n${e?.stack ?? e}`);
    }
  }
  console.log(`${selected.length - failed} passed, ${failed} failed`);
  // Clients left open by a failed check must not keep Node alive.
  process.exit(failed ? 1 : 0);
}
