// The official npm ConvexHttpClient (convex@1.48.0) against a Livebase
// server running tests/apps/testapp.
//
//   node tests/js/http_client.test.mjs <deployment url> <admin key> [check name]
//   node tests/js/http_client.test.mjs --list
//
// Driven by tests/test_compat_js_http.py. Runs every check (or the one
// named), prints one line per check with the failure message and stack of
// any failed assertion, and exits non-zero if any check failed.

import assert from "node:assert/strict";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { ConvexError } from "convex/values";

const [url, adminKey, only] = process.argv.slice(2);
const listOnly = url === "--list";
if (!listOnly && (!url || !adminKey)) {
  console.error("usage: node http_client.test.mjs <url> <admin key> [check name] | --list");
  process.exit(2);
}
const api = anyApi;
const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const client = () => new ConvexHttpClient(url);

/** Runs `fn`, which must throw; returns the error. */
async function rejects(fn, what) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new assert.AssertionError({ message: `expected ${what} to throw` });
}

function bytes(...xs) {
  return new Uint8Array(xs).buffer;
}

function assertBytes(actual, expected) {
  assert.ok(actual instanceof ArrayBuffer, `expected an ArrayBuffer, got ${actual}`);
  assert.deepEqual([...new Uint8Array(actual)], [...new Uint8Array(expected)]);
}

const uid = () => Math.random().toString(36).slice(2, 10);

test("query, mutation and action through anyApi", async () => {
  const c = client();
  const before = await c.query(api.messages.count, {});
  assert.equal(typeof before, "number");
  const author = `js-${uid()}`;
  const id = await c.mutation(api.messages.send, { author, body: "from node" });
  assert.equal(typeof id, "string");
  assert.equal(await c.query(api.messages.count), before + 1);
  const mine = (await c.query(api.messages.list, {})).filter((m) => m.author === author);
  assert.equal(mine.length, 1);
  assert.equal(mine[0]._id, id);
  assert.equal(mine[0].body, "from node");
  assert.equal(typeof mine[0]._creationTime, "number");
  assert.equal(await c.action(api.values.echo_action, { value: "act" }), "act");
  const chain = await c.action(api.calls.chain, { x: 3, body: "js chain" });
  assert.deepEqual(
    { doubled: chain.doubled, incremented: chain.incremented, body: chain.message_body },
    { doubled: 6, incremented: 4, body: "js chain" },
  );
  // skipQueue sends the mutation right away.
  const id2 = await c.mutation(api.messages.send, { author, body: "unqueued" }, { skipQueue: true });
  assert.equal(typeof id2, "string");
});

test("string function paths", async () => {
  const c = client();
  const count = await c.query("messages:count");
  assert.equal(typeof count, "number");
  assert.equal(await c.query("messages.js:count", {}), count);
  assert.equal(typeof (await c.mutation("messages:send", { author: "s", body: "b" })), "string");
  assert.equal(await c.query("messages:count"), count + 1);
  assert.equal(await c.action("values:echo_action", { value: 1.5 }), 1.5);
  assert.equal(await c.query("nested/deep:hello", { name: "str" }), "hello str from nested/deep");
});

test("default exports and nested modules", async () => {
  const c = client();
  assert.equal(await c.query(api.messages.default), "messages default export");
  assert.equal(await c.query("messages"), "messages default export");
  assert.equal(await c.query(api.nested.deep.default), "nested default export");
  assert.equal(await c.query(api.nested.deep.hello, { name: "n" }), "hello n from nested/deep");
});

test("every value type round-trips", async () => {
  const c = client();
  const cases = [
    null,
    true,
    false,
    0,
    42,
    -17.25,
    1.7976931348623157e308,
    5e-324,
    Infinity,
    -Infinity,
    0n,
    -1n,
    2n ** 63n - 1n,
    -(2n ** 63n),
    2n ** 53n + 1n,
    "",
    "unicode ✓ 日本 🎉 \u0000 \n",
    [],
    {},
    [null, true, 1.5, 3n, "s", [], {}],
    { nested: { deep: [{ x: 1n, y: [2, [3, { z: "w" }]] }] }, _underscore: "ok" },
  ];
  for (const [fn, call] of [
    ["values:echo", (v) => c.query(api.values.echo, { value: v })],
    ["values:echo_mutation", (v) => c.mutation(api.values.echo_mutation, { value: v })],
    ["values:echo_action", (v) => c.action(api.values.echo_action, { value: v })],
  ]) {
    for (const value of cases) {
      const got = await call(value);
      assert.deepEqual(got, value, `${fn} changed ${String(value)}`);
      assert.equal(typeof got, typeof value, `${fn} changed the type of ${String(value)}`);
    }
    assert.ok(Number.isNaN(await call(NaN)), `${fn}: NaN`);
    assert.ok(Object.is(await call(-0), -0), `${fn}: -0`);
    assertBytes(await call(bytes(0, 1, 254, 255)), bytes(0, 1, 254, 255));
    assertBytes(await call(new ArrayBuffer(0)), new ArrayBuffer(0));
    const mixed = await call({ b: bytes(7), n: NaN, z: -0, i: 9n });
    assertBytes(mixed.b, bytes(7));
    assert.ok(Number.isNaN(mixed.n) && Object.is(mixed.z, -0) && mixed.i === 9n);
  }
});

test("the server sees the right types", async () => {
  const c = client();
  const seen = await c.query(api.values.describe, {
    value: [1, 1.5, 1n, NaN, -0, Infinity, bytes(1), "s", null, true, { a: 2n }],
  });
  assert.deepEqual(seen, [
    "number", "number", "int64", "number", "number", "number", "bytes", "string", "null", "boolean",
    { a: "int64" },
  ]);
  const typed = await c.query(api.values.typed, {
    i: 5n, f: -0, n: 2, b: bytes(1, 2), s: "s", z: null, t: false, a: [1n], o: { x: "y" },
  });
  assert.equal(typed.i, 5n);
  assert.ok(Object.is(typed.f, -0));
  assertBytes(typed.b, bytes(1, 2));
  assert.deepEqual(typed.a, [1n]);
});

test("values produced by the server", async () => {
  const got = await client().query(api.values.specials);
  assert.equal(got.max, 2n ** 63n - 1n);
  assert.equal(got.min, -(2n ** 63n));
  assert.equal(got.zero, 0n);
  assert.ok(Number.isNaN(got.nan));
  assert.equal(got.inf, Infinity);
  assert.equal(got.ninf, -Infinity);
  assert.ok(Object.is(got.negzero, -0));
  assertBytes(got.bytes, bytes(0, 1, 0xfe, 0xff));
  assert.equal(got.float, 1.5);
  assert.equal(got.int, 42);
  assert.equal(got.unicode, "héllo wörld ✓ 🎉");
});

test("ConvexError carries .data", async () => {
  const c = client();
  const data = { code: "NOT_FOUND", n: 5n, list: [1, "two"], b: bytes(3) };
  for (const [what, call] of [
    ["query", () => c.query(api.failures.app_error, { data })],
    ["mutation", () => c.mutation(api.failures.app_error_mutation, { data })],
    ["action", () => c.action(api.failures.app_error_action, { data })],
  ]) {
    const e = await rejects(call, what);
    assert.ok(e instanceof ConvexError, `${what}: expected ConvexError, got ${e}`);
    assert.equal(e.name, "ConvexError");
    assert.equal(e.data.code, "NOT_FOUND");
    assert.equal(e.data.n, 5n);
    assert.deepEqual(e.data.list, [1, "two"]);
    assertBytes(e.data.b, bytes(3));
    assert.match(e.message, /Uncaught AppError/);
  }
  const e = await rejects(() => c.query(api.failures.app_error, { data: "just text" }), "string data");
  assert.ok(e instanceof ConvexError);
  assert.equal(e.data, "just text");
  // Through an action that called the failing query.
  const chained = await rejects(() => c.action(api.calls.chain_error, {}), "chain_error");
  assert.ok(chained instanceof ConvexError);
  assert.deepEqual(chained.data, { from: "inner" });
});

test("plain errors", async () => {
  const c = client();
  let e = await rejects(() => c.query(api.failures.crash), "crash");
  assert.ok(!(e instanceof ConvexError));
  assert.match(e.message, /^\[Request ID: [0-9a-f]{16}\] Server Error\nUncaught ValueError: boom: the secret is 42/);
  e = await rejects(() => c.mutation(api.failures.crash_mutation), "crash_mutation");
  assert.match(e.message, /Uncaught ValueError: mutation boom/);
  e = await rejects(() => c.action(api.failures.crash_action), "crash_action");
  assert.match(e.message, /Uncaught ValueError: action boom/);
  e = await rejects(() => c.query(api.messages.nope), "missing function");
  assert.match(e.message, /Could not find public function for 'messages:nope'\./);
  e = await rejects(() => c.mutation("messages:count"), "wrong kind");
  assert.match(e.message, /Trying to execute messages:count as Mutation, but it is defined as Query\./);
  e = await rejects(() => c.mutation(api.messages.send, { author: 1, body: "x" }), "bad args");
  assert.match(e.message, /args\.author/);
  e = await rejects(() => c.query(api.calls.secret_double, { x: 1 }), "internal without admin key");
  assert.match(e.message, /Could not find public function for 'calls:secret_double'\./);
});

/** `consistentQuery` of `counters:get` at the client's fixed timestamp: the
 * old value, or a clear error asking for a newer timestamp, never a later write. */
async function assertOldOrTooOld(c, name, old) {
  let got;
  try {
    got = await c.consistentQuery(api.counters.get, { name });
  } catch (e) {
    const body = JSON.parse(e.message);
    assert.ok(body.code && body.message, e.message);
    return;
  }
  assert.equal(got, old, "consistentQuery saw a write made after its timestamp");
}

test("consistentQuery reads at one timestamp", async () => {
  const name = `cq-${uid()}`;
  await client().mutation(api.counters.increment, { name });
  const c = client();
  assert.equal(await c.consistentQuery(api.counters.get, { name }), 1);
  assert.equal(await c.consistentQuery(api.nested.deep.hello, { name: "cq" }), "hello cq from nested/deep");
  await client().mutation(api.counters.increment, { name });
  await assertOldOrTooOld(c, name, 1);
  // A new client takes a new timestamp.
  assert.equal(await client().consistentQuery(api.counters.get, { name }), 2);
});

test("consistentQuery of a cached query", async () => {
  const name = `cqc-${uid()}`;
  await client().mutation(api.counters.increment, { name });
  const c = client();
  assert.equal(await c.consistentQuery(api.counters.get, { name }), 1);
  await client().mutation(api.counters.increment, { name });
  assert.equal(await client().query(api.counters.get, { name }), 2); // now in the server's cache
  await assertOldOrTooOld(c, name, 1);
});

test("setAuth with a user token gets the documented 401", async () => {
  const c = client();
  c.setAuth("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyIn0.sig");
  const e = await rejects(() => c.query(api.messages.count), "query with a user token");
  // ConvexHttpClient throws the raw response text of a non-2xx answer.
  const body = JSON.parse(e.message);
  assert.equal(typeof body.code, "string");
  assert.equal(typeof body.message, "string");
  const raw = await fetch(`${url}/api/query`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyIn0.sig" },
    body: JSON.stringify({ path: "messages:count", format: "convex_encoded_json", args: [{}] }),
  });
  assert.equal(raw.status, 401);
  assert.deepEqual(await raw.json(), body);
  c.clearAuth();
  assert.equal(typeof (await c.query(api.messages.count)), "number");
});

test("setAdminAuth calls internal functions", async () => {
  const c = client();
  c.setAdminAuth(adminKey);
  assert.equal(await c.query(api.calls.secret_double, { x: 21 }), 42);
  assert.equal(await c.action(api.calls.secret_action, { x: 1 }), 2);
  const id = await c.mutation(api.calls.secret_send, { body: "admin from node" });
  assert.equal((await c.query(api.calls.get_message, { id })).author, "internal");
  // Acting as a user identity is accepted.
  c.setAdminAuth(adminKey, { subject: "someone", issuer: "https://issuer.example" });
  assert.equal(await c.query(api.nested.deep.hello, { name: "acting" }), "hello acting from nested/deep");
  c.setAdminAuth("not-the-key");
  const e = await rejects(() => c.query(api.messages.count), "bad admin key");
  assert.equal(JSON.parse(e.message).code.length > 0, true);
});

test("function() runs any kind with a bare args object", async () => {
  const c = client();
  assert.equal(await c.function(api.values.echo, undefined, { value: 7n }), 7n);
  assert.equal(await c.function("values:echo_mutation", undefined, { value: "m" }), "m");
  assertBytes(await c.function(api.values.echo_action, undefined, { value: bytes(9) }), bytes(9));
  assert.equal(await c.function(api.nested.deep.default), "nested default export");
  const e = await rejects(() => c.function(api.failures.app_error, undefined, { data: 1n }), "function() error");
  assert.ok(e instanceof ConvexError);
  assert.equal(e.data, 1n);
  c.setAdminAuth(adminKey);
  assert.equal(await c.function(api.calls.secret_double, undefined, { x: 4 }), 8);
});

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
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${name}\n${e?.stack ?? e}`);
  }
}
console.log(`${selected.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
