// The official npm ConvexReactClient (convex@1.48.0 with react 18, no DOM)
// against a Livebase server running tests/apps/syncapp: watchQuery and
// mutations with optimistic updates. Node 20 has no global WebSocket, so
// the client gets the `ws` package's. Driven by tests/test_sync_js.py.
//
//   node tests/js/sync_react.test.mjs <deployment url> <admin key> [check name]
//   node tests/js/sync_react.test.mjs --list

import assert from "node:assert/strict";
import { ConvexHttpClient } from "convex/browser";
import { ConvexReactClient } from "convex/react";
import { anyApi as api } from "convex/server";
import { ConvexError } from "convex/values";
import WebSocket from "ws";
import { main, rejects, show, sleep, test, uid, url, within } from "./sync_harness.mjs";

const reactClient = () => new ConvexReactClient(url, { webSocketConstructor: WebSocket, unsavedChangesWarning: false });

/** `client.watchQuery(...)`, recording every local result its onUpdate sees. */
function watchNotes(client, list) {
  const watch = client.watchQuery(api.notes.list, { list });
  const seen = [];
  let waiters = [];
  const unsubscribe = watch.onUpdate(() => {
    seen.push(watch.localQueryResult());
    const ready = waiters;
    waiters = [];
    for (const resolve of ready) resolve();
  });
  const until = async (pred, what, ms = 5000) => {
    const deadline = Date.now() + ms;
    while (!pred(watch.localQueryResult())) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}; seen ${show(seen)}`);
      await new Promise((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, left);
      });
    }
  };
  return { watch, seen, unsubscribe, until, now: () => watch.localQueryResult() };
}

/** Appends the note as typed: the server stores it upper-cased, so its
 * value is told apart from this guess. */
const addOptimistically = (localStore, args) => {
  const current = localStore.getQuery(api.notes.list, { list: args.list });
  if (current !== undefined) localStore.setQuery(api.notes.list, { list: args.list }, [...current, args.text]);
};

test("watchQuery sees another client's mutation", async () => {
  const list = `w-${uid()}`;
  const client = reactClient();
  try {
    const notes = watchNotes(client, list);
    await notes.until((v) => v !== undefined, "the first value");
    assert.deepEqual(notes.now(), []);
    await new ConvexHttpClient(url).mutation(api.notes.add, { list, text: "from http" });
    await notes.until((v) => v?.length === 1, "the HTTP client's note");
    assert.deepEqual(notes.now(), ["FROM HTTP"]);
  } finally {
    await client.close();
  }
});

test("an optimistic update shows at once, then the server's value replaces it", async () => {
  const list = `o-${uid()}`;
  const client = reactClient();
  try {
    const notes = watchNotes(client, list);
    await notes.until((v) => v !== undefined, "the first value");
    const promise = client.mutation(api.notes.add, { list, text: "hello" }, { optimisticUpdate: addOptimistically });
    // Synchronously: the guess is the local result, and watchers were told.
    assert.deepEqual(notes.now(), ["hello"]);
    assert.deepEqual(notes.seen.at(-1), ["hello"]);
    const result = await within(promise, 5000, "the mutation");
    assert.equal(result, "HELLO");
    // Resolved: the server's value has replaced the guess.
    assert.deepEqual(notes.now(), ["HELLO"]);
    const second = client.mutation(api.notes.add, { list, text: "again" }, { optimisticUpdate: addOptimistically });
    assert.deepEqual(notes.now(), ["HELLO", "again"]);
    await within(second, 5000, "the second mutation");
    assert.deepEqual(notes.now(), ["HELLO", "AGAIN"]);
    await sleep(200);
    assert.deepEqual(notes.now(), ["HELLO", "AGAIN"]);
    // The guesses were visible to watchers before the server's values.
    const first = (v) => notes.seen.findIndex((s) => show(s) === show(v));
    assert.ok(first(["hello"]) >= 0 && first(["hello"]) < first(["HELLO"]), show(notes.seen));
    assert.ok(first(["HELLO", "again"]) < first(["HELLO", "AGAIN"]), show(notes.seen));
    assert.deepEqual(await new ConvexHttpClient(url).query(api.notes.list, { list }), ["HELLO", "AGAIN"]);
  } finally {
    await client.close();
  }
});

test("a failed mutation rolls its optimistic update back", async () => {
  const list = `f-${uid()}`;
  const client = reactClient();
  try {
    const notes = watchNotes(client, list);
    await notes.until((v) => v !== undefined, "the first value");
    await client.mutation(api.notes.add, { list, text: "kept" });
    assert.deepEqual(notes.now(), ["KEPT"]);
    const promise = client.mutation(api.notes.add, { list, text: "fail me" }, { optimisticUpdate: addOptimistically });
    assert.deepEqual(notes.now(), ["KEPT", "fail me"]);
    const e = await rejects(() => within(promise, 5000, "the failing mutation"), "the failing mutation");
    assert.ok(e instanceof ConvexError, `not a ConvexError: ${e?.stack ?? e}`);
    assert.deepEqual(e.data, { code: "rejected", text: "fail me" });
    assert.deepEqual(notes.now(), ["KEPT"]);
    assert.deepEqual(notes.seen.at(-1), ["KEPT"], "watchers were not told of the rollback");
    await sleep(200);
    assert.deepEqual(notes.now(), ["KEPT"]);
    assert.deepEqual(await new ConvexHttpClient(url).query(api.notes.list, { list }), ["KEPT"]);
  } finally {
    await client.close();
  }
});

await main();
