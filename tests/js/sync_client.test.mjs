// The official npm ConvexClient (convex@1.48.0, `convex/browser`, Node 20)
// over the WebSocket sync protocol against a Livebase server running
// tests/apps/syncapp. Driven by tests/test_sync_js.py.
//
//   node tests/js/sync_client.test.mjs <deployment url> <admin key> [check name]
//   node tests/js/sync_client.test.mjs --list

import assert from "node:assert/strict";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { anyApi as api } from "convex/server";
import { ConvexError } from "convex/values";
import {
  admin,
  decodeTs,
  recordingWebSocket,
  eventually,
  main,
  show,
  sleep,
  test,
  uid,
  url,
  within,
} from "./sync_harness.mjs";

const client = (options = {}) => new ConvexClient(url, options);
const http = () => new ConvexHttpClient(url);

/**
 * Subscribes with `client.onUpdate` and records every value and error the
 * callbacks get. `onChange(kind)` runs inside each callback, where the
 * client's local state (every query's current value) is the one just
 * delivered.
 */
function watch(client, query, args, onChange = () => {}) {
  const w = { values: [], errors: [] };
  let waiters = [];
  const wake = () => {
    const ready = waiters;
    waiters = [];
    for (const resolve of ready) resolve();
  };
  const unsubscribe = client.onUpdate(
    query,
    args,
    (value) => {
      w.values.push(value);
      onChange("value");
      wake();
    },
    (error) => {
      w.errors.push(error);
      onChange("error");
      wake();
    },
  );
  w.unsubscribe = unsubscribe;
  w.current = () => unsubscribe.getCurrentValue();
  w.latest = () => w.values.at(-1);
  w.calls = () => w.values.length + w.errors.length;
  /** Waits until `pred(w)` holds. */
  w.until = async (pred, what, ms = 5000) => {
    const deadline = Date.now() + ms;
    while (!pred(w)) {
      const left = deadline - Date.now();
      if (left <= 0) {
        const errors = w.errors.map((e) => e.message);
        throw new Error(`timed out after ${ms} ms waiting for ${what}; values ${show(w.values)}, errors ${show(errors)}`);
      }
      await new Promise((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, left);
      });
    }
  };
  return w;
}

async function closeAll(...clients) {
  await Promise.all(clients.map((c) => c.close()));
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);

test("onUpdate sees other clients' mutations", async () => {
  const channel = `live-${uid()}`;
  const a = client();
  const b = client();
  try {
    const w = watch(a, api.messages.list, { channel });
    await w.until((w) => w.values.length === 1, "the first value");
    const id1 = await b.mutation(api.messages.send, { channel, body: "from another ConvexClient" });
    await w.until((w) => w.values.length >= 2, "the other ConvexClient's message");
    const id2 = await http().mutation(api.messages.send, { channel, body: "over HTTP" });
    await w.until((w) => w.values.length >= 3, "the HTTP client's message");
    await sleep(200);
    const m1 = { _id: id1, body: "from another ConvexClient" };
    const m2 = { _id: id2, body: "over HTTP" };
    // One callback per change: no duplicate pushes, nothing missed.
    assert.deepEqual(w.values, [[], [m1], [m1, m2]]);
    assert.deepEqual(w.errors, []);
  } finally {
    await closeAll(a, b);
  }
});

test("a resolved mutation's write is already in the subscribed queries", async () => {
  const channel = `ryw-${uid()}`;
  const a = client();
  const noise = client();
  try {
    const list = watch(a, api.messages.list, { channel });
    // Slow queries make the Transition carrying the write come well after
    // the MutationResponse: the promise must wait for it (§6.5 rule 3).
    const slow = [0, 1, 2].map((salt) => watch(a, api.messages.count_slowly, { channel, salt }));
    // The noisy client watches the channel it writes to (a client whose
    // results don't change is the next check's business).
    const noiseList = watch(noise, api.messages.list, { channel });
    for (const w of [list, ...slow, noiseList]) await w.until((w) => w.values.length >= 1, "the first value");
    // Another client writes to the same channel all along, so Transitions
    // at other timestamps keep arriving.
    let stop = false;
    const noisy = (async () => {
      for (let n = 0; !stop && n < 30; n++) await noise.mutation(api.messages.send, { channel, body: `noise ${n}` });
    })();
    const checked = [];
    for (let i = 0; i < 8; i++) {
      await a.mutation(api.messages.send, { channel, body: `mine ${i}` }).then((id) => {
        const current = list.current();
        assert.ok(current.some((m) => m._id === id), `mutation ${i} resolved but the subscribed list lacks ${id}: ${show(current)}`);
        assert.deepEqual(list.latest(), current, "the last onUpdate value is not the client's current value");
        for (const s of slow) {
          assert.equal(s.current(), current.length, "two queries of one client show different snapshots");
        }
        checked.push(id);
      });
    }
    stop = true;
    await within(noisy, 10_000, "the other client's writes");
    assert.equal(checked.length, 8);
    // And a one-shot query after the mutation sees it too.
    const id = await a.mutation(api.messages.send, { channel, body: "last" });
    assert.ok((await a.query(api.messages.list, { channel })).some((m) => m._id === id));
  } finally {
    await closeAll(a, noise);
  }
});

test("a mutation resolves when none of its client's results changed", async () => {
  // §6.5 rule 3: after a successful MutationResponse the server owes the
  // caller a Transition with endVersion.ts >= the commit ts, even if none of
  // its queries changed; the JS client resolves the promise only then.
  const busyChannel = `busy-${uid()}`;
  const key = `quiet-${uid()}`;
  const busy = client();
  const Socket = recordingWebSocket();
  const writer = client({ webSocketConstructor: Socket });
  const h = http();
  try {
    // Eight slow queries: every write to busyChannel starts a long re-run.
    const slow = Array.from({ length: 8 }, (_, salt) => watch(busy, api.messages.count_slowly, { channel: busyChannel, salt }));
    // The writer watches something its mutations don't touch.
    const unrelated = watch(writer, api.messages.count, { channel: `other-${uid()}` });
    for (const w of [...slow, unrelated]) await w.until((w) => w.values.length >= 1, "the first value");
    // Quiet server: the mutation resolves.
    await within(writer.mutation(api.writes.put, { key }), 3000, "a mutation on a quiet server");
    // Busy server: the writer's mutation commits while the re-runs started
    // by the HTTP write are in progress.
    for (let i = 0; i < 3; i++) {
      await h.mutation(api.messages.send, { channel: busyChannel, body: `${i}` });
      const requestId = (Socket.stats.messages.filter((m) => m.type === "MutationResponse").at(-1)?.requestId ?? -1) + 1;
      try {
        await within(writer.mutation(api.writes.put, { key }), 3000, `mutation ${i} during a re-run`);
      } catch (e) {
        throw new Error(`${e.message}\n${diagnoseMutation(Socket.stats.messages, requestId)}`);
      }
    }
    assert.equal(await h.query(api.writes.count, { key }), 4);
    assert.equal(unrelated.calls(), 1);
  } finally {
    await closeAll(busy, writer);
  }
});

/** What the server sent about a mutation: its commit ts, and the end ts of
 * every Transition after the MutationResponse. */
function diagnoseMutation(messages, requestId) {
  const at = messages.findIndex((m) => m.type === "MutationResponse" && m.requestId === requestId);
  if (at < 0) return `no MutationResponse for requestId ${requestId} arrived`;
  const commitTs = decodeTs(messages[at].ts);
  const after = messages.slice(at + 1).filter((m) => m.type === "Transition");
  const ends = after.map((t) => `${decodeTs(t.endVersion.ts)} (${t.modifications.length} modifications)`);
  return (
    `MutationResponse requestId ${requestId} has commit ts ${commitTs}; Transitions after it end at: ` +
    `${ends.length ? ends.join(", ") : "none"}; ` +
    `${after.some((t) => decodeTs(t.endVersion.ts) >= commitTs) ? "one reaches" : "none reaches"} the commit ts`
  );
}

test("subscribers never see a broken total under concurrent transfers", async () => {
  const bank = `bank-${uid()}`;
  const names = ["a", "b", "c", "d", "e", "f"];
  const TOTAL = 100 * names.length;
  await http().mutation(api.bank.open_accounts, { bank, names, balance: 100 });
  const violations = [];
  let views = 0;
  const subscribers = [client(), client(), client()];
  const watched = subscribers.map((c, k) => {
    const view = {};
    // Every delivered state of this client: both queries' current values
    // must come from one snapshot (same number of moves) and keep the sum.
    const check = (source) => () => {
      views += 1;
      const total = view.total?.current();
      const accounts = view.accounts?.current();
      const where = `subscriber ${k} after a ${source} update`;
      if (total !== undefined && (total.sum !== TOTAL || total.count !== names.length)) {
        violations.push(`${where}: total ${show(total)}`);
      }
      if (accounts !== undefined && (sum(accounts.map((x) => x.balance)) !== TOTAL || accounts.length !== names.length)) {
        violations.push(`${where}: accounts ${show(accounts)}`);
      }
      if (total !== undefined && accounts !== undefined && sum(accounts.map((x) => x.moves)) !== total.moves) {
        violations.push(`${where}: total says ${total.moves} moves, accounts ${show(accounts)}`);
      }
    };
    view.total = watch(c, api.bank.total, { bank }, check("total"));
    view.accounts = watch(c, api.bank.accounts, { bank }, check("accounts"));
    return view;
  });
  for (const v of watched) {
    await v.total.until((w) => w.values.length >= 1, "the first total");
    await v.accounts.until((w) => w.values.length >= 1, "the first accounts");
  }
  const writers = [client(), client(), client()];
  const pick = () => names[Math.floor(Math.random() * names.length)];
  const transfer = (c) => c.mutation(api.bank.transfer, { bank, src: pick(), dst: pick(), amount: 1 + Math.floor(Math.random() * 40) });
  try {
    // Each writer's transfers are queued at once (they run in order on its
    // connection); the writers and an HTTP client run concurrently.
    const results = await within(
      Promise.all([
        ...writers.flatMap((c) => Array.from({ length: 15 }, () => transfer(c))),
        (async () => {
          const h = http();
          const done = [];
          for (let i = 0; i < 10; i++) done.push(await transfer(h));
          return done;
        })(),
      ]),
      25_000,
      "the transfers",
    );
    const moved = results.flat().filter((ok) => ok === true).length;
    assert.ok(moved > 10, `only ${moved} transfers succeeded`);
    const final = await http().query(api.bank.accounts, { bank });
    assert.equal(sum(final.map((x) => x.moves)), 2 * moved);
    for (const v of watched) {
      await v.total.until((w) => w.latest().moves === 2 * moved, "the final total");
      await v.accounts.until((w) => show(w.latest()) === show(final), "the final accounts");
      // Intermediate states were pushed, not only the first and last.
      assert.ok(v.total.values.length >= 3, `a subscriber got only ${v.total.values.length} totals`);
    }
    assert.deepEqual(violations, [], `${violations.length} inconsistent states out of ${views}`);
  } finally {
    await closeAll(...subscribers, ...writers);
  }
});

test("writes to another channel push nothing", async () => {
  const [x, y] = [`x-${uid()}`, `y-${uid()}`];
  const SocketA = recordingWebSocket();
  const a = client({ webSocketConstructor: SocketA });
  const b = client();
  try {
    const wx = watch(a, api.messages.list, { channel: x });
    const wy = watch(b, api.messages.list, { channel: y });
    await wx.until((w) => w.values.length === 1, "x's first value");
    await wy.until((w) => w.values.length === 1, "y's first value");
    const transitions = SocketA.stats.received.Transition;
    assert.ok(transitions >= 1, show(SocketA.stats));
    // Writes to y (from b and over HTTP) must not wake a.
    await b.mutation(api.messages.send, { channel: y, body: "y1" });
    await http().mutation(api.messages.send, { channel: y, body: "y2" });
    await wy.until((w) => w.latest().length === 2, "both writes to y");
    await sleep(500);
    assert.equal(wx.calls(), 1, `x's subscriber was called for writes to y: ${show(wx.values)}`);
    assert.equal(
      SocketA.stats.received.Transition,
      transitions,
      `the server pushed Transitions to a client none of whose results changed (${show(SocketA.stats)})`,
    );
    // Control: a write to x does reach a (so the counting works).
    await http().mutation(api.messages.send, { channel: x, body: "x1" });
    await wx.until((w) => w.values.length === 2, "the write to x");
    assert.equal(SocketA.stats.received.Transition, transitions + 1);
  } finally {
    await closeAll(a, b);
  }
});

test("reconnect after the server drops the socket", async () => {
  const key = `drop-${uid()}`;
  const channel = `drop-${uid()}`;
  const Socket = recordingWebSocket();
  const a = client({ webSocketConstructor: Socket });
  try {
    const count = watch(a, api.writes.count, { key });
    const list = watch(a, api.messages.list, { channel });
    await count.until((w) => w.values.length === 1, "the first count");
    await list.until((w) => w.values.length === 1, "the first list");
    // (Clients of earlier checks may take a moment to be gone.)
    const before = (
      await eventually(
        async () => (await admin("GET", "connections")).connections,
        (cs) => cs.length === 1,
        "only this client's connection",
      )
    ).map((c) => c.sessionId);

    // Mutations in flight when the socket drops: the slow one is running on
    // the server, the others wait behind it. The client re-sends them all
    // on the new socket with the same (sessionId, requestId); each must be
    // applied exactly once (§6.5 rule 7).
    const pending = [
      a.mutation(api.writes.put_slowly, { key, seconds: 0.3 }),
      a.mutation(api.writes.put, { key }),
      a.mutation(api.writes.put, { key }),
    ];
    await sleep(100);
    const { closed } = await admin("POST", "connections/close");
    assert.equal(closed, 1);
    // Written while the client is away: the resumed subscription must show it.
    const bodyId = await http().mutation(api.messages.send, { channel, body: "while away" });
    const ids = await within(Promise.all(pending), 15_000, "the mutations in flight during the drop");
    assert.equal(new Set(ids).size, 3, show(ids));
    await eventually(async () => Socket.stats.sockets, (n) => n >= 2, "a new socket");
    // Read-your-writes across the reconnect, and exactly once.
    assert.equal(count.current(), 3);
    assert.equal(await http().query(api.writes.count, { key }), 3);
    await list.until((w) => w.latest().some((m) => m._id === bodyId), "the write made while disconnected");

    // The same session resumed (the JS client keeps its sessionId).
    const after = await eventually(
      async () => (await admin("GET", "connections")).connections,
      (cs) => cs.length === 1 && cs[0].queries === 2,
      "one connection with both queries",
    );
    assert.deepEqual(after.map((c) => c.sessionId), before);

    // A second drop with nothing in flight; then the resumed client writes.
    await admin("POST", "connections/close");
    const id = await within(a.mutation(api.writes.put, { key }), 15_000, "a mutation after the second drop");
    assert.equal(typeof id, "string");
    assert.equal(count.current(), 4);
    assert.equal(await http().query(api.writes.count, { key }), 4);
    assert.ok(Socket.stats.sockets >= 3, show(Socket.stats));
    // Nothing was executed twice meanwhile.
    await sleep(200);
    assert.equal(await http().query(api.writes.count, { key }), 4);
  } finally {
    await a.close();
  }
});

test("an AppError from a query reaches the error callback with .data", async () => {
  const channel = `err-${uid()}`;
  const a = client();
  try {
    const data = { code: "nope", n: 7n, bytes: new Uint8Array([1, 2]).buffer, nested: [1.5, null] };
    const failing = watch(a, api.failures.app_error, { data });
    await failing.until((w) => w.errors.length === 1, "the error");
    const e = failing.errors[0];
    assert.ok(e instanceof ConvexError, `not a ConvexError: ${e?.stack ?? e}`);
    assert.equal(e.data.code, "nope");
    assert.equal(e.data.n, 7n);
    assert.deepEqual([...new Uint8Array(e.data.bytes)], [1, 2]);
    assert.deepEqual(e.data.nested, [1.5, null]);
    assert.deepEqual(failing.values, []);

    // A query that starts failing once a write makes it throw, then recovers
    // when it is unsubscribed and resubscribed with a larger limit.
    const limited = watch(a, api.messages.count_at_most, { channel, limit: 1 });
    await limited.until((w) => w.values.length === 1, "the first count");
    assert.equal(limited.values[0], 0);
    const h = http();
    await h.mutation(api.messages.send, { channel, body: "1" });
    await limited.until((w) => w.values.length === 2, "the second count");
    await h.mutation(api.messages.send, { channel, body: "2" });
    await limited.until((w) => w.errors.length === 1, "the error after the second write");
    assert.ok(limited.errors[0] instanceof ConvexError);
    assert.deepEqual(limited.errors[0].data, { code: "too_many", count: 2, limit: 1 });
    assert.deepEqual(limited.values, [0, 1]);

    // A plain exception reaches the error callback as a (non-Convex) Error.
    const crash = watch(a, api.failures.crash, {});
    await crash.until((w) => w.errors.length === 1, "the crash");
    assert.ok(!(crash.errors[0] instanceof ConvexError));
    assert.match(crash.errors[0].message, /boom in a query/);
  } finally {
    await a.close();
  }
});

await main();
