// The official npm clients (convex@1.48.0) signing in to a Livebase server
// running tests/apps/authapp, with tokens from the test issuer of
// tests/support/jwks.py (its POST <issuer>/mint endpoint signs fresh ones).
//
//   node tests/js/auth_client.test.mjs <deployment url> <issuer url> [check name]
//   node tests/js/auth_client.test.mjs --list
//
// Driven by tests/test_auth.py. Prints one line per check and exits non-zero
// when a check fails.

import assert from "node:assert/strict";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";

const [url, issuer, only] = process.argv.slice(2);
const listOnly = url === "--list";
if (!listOnly && (!url || !issuer)) {
  console.error("usage: node auth_client.test.mjs <url> <issuer url> [check name]");
  process.exit(2);
}
const api = anyApi;
const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const uid = () => Math.random().toString(36).slice(2, 10);

/** A fresh token from the test issuer. */
async function mint(claims, expiresIn = 3600) {
  const response = await fetch(`${issuer}/mint`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ claims, expires_in: expiresIn }),
  });
  assert.equal(response.status, 200, "the test issuer refused to mint");
  return (await response.json()).token;
}

/** Resolves with the first value of `poll()` accepted by `ok`, polling every 20 ms. */
async function waitFor(what, poll, ok, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = poll();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new assert.AssertionError({
    message: `timed out waiting for ${what}; last value: ${JSON.stringify(last)}`,
  });
}

/** Subscribes to a query; `.value` is its latest result (undefined until the first). */
function watch(client, query, args = {}) {
  const w = { value: undefined, updates: 0 };
  w.unsubscribe = client.onUpdate(query, args, (v) => {
    w.value = v;
    w.updates += 1;
  });
  return w;
}

/** Records the calls of setAuth's onChange callback. */
function authChanges() {
  const seen = [];
  const onChange = (isAuthenticated) => seen.push(isAuthenticated);
  return { seen, onChange };
}

test("ConvexHttpClient.setAuth sends the token; clearAuth signs out", async () => {
  const c = new ConvexHttpClient(url);
  assert.equal(await c.query(api.whoami.me, {}), null);
  const sub = `js-http-${uid()}`;
  c.setAuth(
    await mint({
      sub,
      email: "jay@example.com",
      given_name: "Jay",
      picture: "https://example.com/j.png",
      org: { role: "editor" },
    }),
  );
  const me = await c.query(api.whoami.me, {});
  assert.equal(me.subject, sub);
  assert.equal(me.issuer, issuer);
  assert.equal(me.tokenIdentifier, `${issuer}|${sub}`);
  assert.equal(me.email, "jay@example.com");
  assert.equal(me.givenName, "Jay");
  assert.equal(me.pictureUrl, "https://example.com/j.png");
  assert.equal(me["org.role"], "editor");
  assert.equal(me.exp, undefined, "registered claims are not part of the identity");
  await c.mutation(api.whoami.add_note, { text: "from node" });
  assert.deepEqual(await c.query(api.whoami.my_notes, {}), ["from node"]);
  const fromAction = await c.action(api.whoami.from_action, {});
  assert.equal(fromAction.own.subject, sub);
  assert.deepEqual(fromAction.via_query, fromAction.own);
  c.clearAuth();
  assert.equal(await c.query(api.whoami.me, {}), null);
  assert.deepEqual(await c.query(api.whoami.my_notes, {}), []);
});

test("ConvexHttpClient with a refused token gets the reason", async () => {
  const c = new ConvexHttpClient(url);
  c.setAuth(await mint({ sub: "late" }, -120));
  await assert.rejects(c.query(api.whoami.me, {}), (e) => {
    assert.match(e.message, /Token expired/);
    return true;
  });
  c.setAuth("not-a-jwt");
  await assert.rejects(c.query(api.whoami.me, {}), /Could not parse JWT/);
});

test("ConvexClient.setAuth(fetchToken) reports onChange(true) and re-runs queries", async () => {
  const client = new ConvexClient(url, { verbose: !!process.env.AUTH_VERBOSE });
  try {
    const sub = `js-ws-${uid()}`;
    const me = watch(client, api.whoami.me);
    await waitFor(
      "the anonymous identity",
      () => me.value,
      (v) => v === null,
    );
    const auth = authChanges();
    client.setAuth(() => mint({ sub, email: "ws@example.com" }), auth.onChange);
    await waitFor(
      "onChange(true)",
      () => auth.seen,
      (s) => s.includes(true),
    );
    const value = await waitFor(
      "the signed-in identity",
      () => me.value,
      (v) => v?.subject === sub,
    );
    assert.equal(value.email, "ws@example.com");
    assert.equal(value.tokenIdentifier, `${issuer}|${sub}`);
    await client.mutation(api.whoami.add_note, { text: "over the socket" });
    assert.deepEqual(await client.query(api.whoami.my_notes, {}), ["over the socket"]);
    client.client.clearAuth();
    await waitFor(
      "signed out",
      () => me.value,
      (v) => v === null,
    );
    assert.ok(!auth.seen.includes(false), `unexpected onChange(false): ${auth.seen}`);
  } finally {
    await client.close();
  }
});

test("a refused first token is refreshed with forceRefreshToken (PROTOCOL 9.7)", async () => {
  const client = new ConvexClient(url, { verbose: !!process.env.AUTH_VERBOSE });
  try {
    const calls = [];
    const sub = `js-refresh-${uid()}`;
    const fetchToken = async ({ forceRefreshToken }) => {
      calls.push(forceRefreshToken);
      // A stale cached token first; a fresh one when the client insists.
      return forceRefreshToken ? mint({ sub }) : mint({ sub }, -300);
    };
    const auth = authChanges();
    client.setAuth(fetchToken, auth.onChange);
    await waitFor(
      "onChange(true)",
      () => auth.seen,
      (s) => s.includes(true),
      8000,
    );
    assert.equal(calls[0], false);
    assert.equal(calls[1], true);
    assert.ok(!auth.seen.includes(false), `unexpected onChange(false): ${auth.seen}`);
    const me = watch(client, api.whoami.me);
    await waitFor(
      "the identity after the refresh",
      () => me.value,
      (v) => v?.subject === sub,
    );
  } finally {
    await client.close();
  }
});

test("tokens about to expire are refreshed over the same socket", async () => {
  const client = new ConvexClient(url, { verbose: !!process.env.AUTH_VERBOSE });
  try {
    let n = 0;
    const sub = `js-exp-${uid()}`;
    // Each token lives 12 s; the client refetches 10 s before expiry and
    // sends Authenticate with the next baseVersion.
    const fetchToken = async () => mint({ sub, n: ++n }, 12);
    const auth = authChanges();
    client.setAuth(fetchToken, auth.onChange);
    const me = watch(client, api.whoami.me);
    const value = await waitFor(
      "the third token's identity",
      () => me.value,
      (v) => v?.n >= 3,
      12000,
    );
    assert.equal(value.subject, sub);
    // convex@1.48 calls onChange(true) again after each confirmed refresh
    // (it reads `hadAuth` after replacing the auth state); never false.
    assert.ok(auth.seen.length >= 1 && auth.seen.every((x) => x === true), `onChange calls: ${auth.seen}`);
  } finally {
    await client.close();
  }
});

test("a client whose every token is refused gives up with onChange(false)", async () => {
  const client = new ConvexClient(url, { verbose: !!process.env.AUTH_VERBOSE });
  try {
    let calls = 0;
    const fetchToken = async () => {
      calls += 1;
      return mint({ sub: "always-expired", nonce: uid() }, -600);
    };
    const auth = authChanges();
    client.setAuth(fetchToken, auth.onChange);
    await waitFor(
      "onChange(false)",
      () => auth.seen,
      (s) => s.includes(false),
      8000,
    );
    assert.ok(!auth.seen.includes(true));
    assert.ok(calls >= 2, `fetchToken was called ${calls} times`);
    // Signed out, the client keeps working anonymously.
    assert.equal(await client.query(api.whoami.me, {}), null);
  } finally {
    await client.close();
  }
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
