// The realtime connection against a real server, through a proxy that cuts or freezes it.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import WebSocket from "ws";

import { RealtimeRefused, TesseraClient } from "../src/index.js";
import { startProxy } from "./support/proxy.js";
import { startServer } from "./support/server.js";
import { until } from "./support/wait.js";

let server;
let proxy;
const opened = [];

before(async () => {
  server = await startServer();
});
after(() => server.stop());
afterEach(async () => {
  for (const realtime of opened.splice(0)) realtime.close();
  await proxy?.close();
  proxy = undefined;
});

/** A user's two clients: `direct` calls the server, `realtime` listens through a proxy. */
async function setUp(userId, options = {}, on = server) {
  proxy = await startProxy(on.port);
  const token = await on.token(userId);
  const direct = new TesseraClient({ baseUrl: on.baseUrl, token });
  const viaProxy = new TesseraClient({ baseUrl: proxy.baseUrl, token, WebSocket });
  const realtime = viaProxy.realtime({ minDelay: 10, maxDelay: 50, ...options });
  opened.push(realtime);
  return { direct, realtime };
}

function burst(client, start, count) {
  return client.execute("probe", { action: "burst", start, count });
}

describe("realtime", () => {
  it("delivers each message exactly once across connections cut mid-stream", async () => {
    const { direct, realtime } = await setUp("stream");
    const received = [];
    const states = [];
    const notices = [];
    realtime.onState((change) => states.push(change));
    realtime.on("resync", (notice) => notices.push(notice));
    realtime.on("tick", (message) => {
      received.push(message);
      // Cut the network while the server is still sending, three times.
      if ([25, 90, 160].includes(message.n)) proxy.cut();
    });
    await realtime.connect();
    const total = 240;
    for (let start = 0; start < total; start += 40) await burst(direct, start, 40);
    const seen = () =>
      `have ${received.length}; states ${JSON.stringify(states)}; resync ${JSON.stringify(notices)}`;
    await until(() => received.length >= total, () => `${total} ticks (${seen()})`);
    await burst(direct, total, 1); // anything doubled would have arrived before this one
    await until(() => received.length > total, "the last tick");

    assert.deepEqual(
      received.map((m) => m.n),
      Array.from({ length: total + 1 }, (_, n) => n),
    );
    const seqs = received.map((m) => m.seq);
    assert.deepEqual(seqs, Array.from({ length: total + 1 }, (_, i) => seqs[0] + i));
    assert.equal(realtime.lastSeq, seqs.at(-1));
    assert.deepEqual(notices, []);
    assert.ok(proxy.accepted() >= 4, `${proxy.accepted()} connections`);
    assert.equal(states.filter((s) => s.state === "reconnecting").length, 3);
  });

  it("resumes after the lastSeq an earlier page kept", async () => {
    const { direct, realtime } = await setUp("reload");
    await realtime.connect();
    const { seqs } = await burst(direct, 0, 3);
    await until(() => realtime.lastSeq === seqs[2], "the first three");
    realtime.close();
    await burst(direct, 3, 2); // while no page is open

    const later = new TesseraClient({ baseUrl: server.baseUrl, token: await server.token("reload"), WebSocket });
    const again = later.realtime({ lastSeq: seqs[1] });
    opened.push(again);
    const received = [];
    again.on("tick", (message) => received.push(message.n));
    await again.connect();
    await until(() => received.length === 3, "three ticks");
    assert.deepEqual(received, [2, 3, 4]);
  });

  it("tells the app to resync when missed messages left the resume window", async (t) => {
    const small = await startServer({ args: ["--ws-resume-messages", "50"] });
    t.after(() => small.stop());
    const { direct, realtime } = await setUp("resync", {}, small);
    const received = [];
    const notices = [];
    realtime.on("tick", (message) => received.push(message.n));
    realtime.on("resync", (notice) => notices.push(notice));
    await realtime.connect();
    const { seqs } = await burst(direct, 0, 1);
    await until(() => received.length === 1, "the first tick");

    proxy.refuse(true);
    proxy.cut();
    await burst(direct, 1, 60); // the server keeps the last 50
    proxy.refuse(false);
    await until(() => received.length === 51, `51 ticks (have ${received.length})`);

    assert.equal(notices.length, 1);
    assert.equal(notices[0].last_seq, seqs[0]);
    assert.equal(notices[0].first_seq, seqs[0] + 11);
    assert.deepEqual(received, [0, ...Array.from({ length: 50 }, (_, i) => 11 + i)]);
  });

  it("reconnects with doubling delays while the server is unreachable", async () => {
    const { direct, realtime } = await setUp("backoff", { minDelay: 20, maxDelay: 80 });
    const changes = [];
    realtime.onState((change) => changes.push(change));
    await realtime.connect();
    proxy.refuse(true);
    proxy.cut();
    await until(() => changes.filter((c) => c.state === "reconnecting").length >= 5, "5 retries");
    proxy.refuse(false);
    await until(() => changes.at(-1).state === "open", "the connection back");

    const retries = changes.filter((c) => c.state === "reconnecting");
    retries.forEach((retry, i) => {
      const ceiling = Math.min(80, 20 * 2 ** i);
      assert.equal(retry.attempt, i + 1);
      assert.ok(retry.delay >= ceiling / 2 && retry.delay <= ceiling, `${i}: ${retry.delay}`);
    });
    assert.equal(realtime.attempt, 0);
    const received = [];
    realtime.on("tick", (message) => received.push(message.n));
    await burst(direct, 7, 1);
    await until(() => received.length === 1, "a tick after the outage");
  });

  it("drops a silent connection when its heartbeat goes unanswered", async () => {
    const { direct, realtime } = await setUp("silent", {
      heartbeatInterval: 100,
      heartbeatTimeout: 200,
    });
    const changes = [];
    const received = [];
    realtime.onState((change) => changes.push(change));
    realtime.on("tick", (message) => received.push(message.n));
    await realtime.connect();
    proxy.freeze(); // the socket stays open, but nothing gets through
    await burst(direct, 0, 2);
    await until(() => received.length === 2, "the ticks sent while frozen");
    const retry = changes.find((c) => c.state === "reconnecting");
    assert.equal(retry.reason, "no answer to heartbeat");
    assert.deepEqual(received, [0, 1]);
  });

  it("keeps a connection that answers its heartbeats", async () => {
    let pings = 0;
    class Counting extends WebSocket {
      send(data) {
        if (JSON.parse(data).type === "ping") pings += 1;
        super.send(data);
      }
    }
    const client = new TesseraClient({
      baseUrl: server.baseUrl,
      token: await server.token("steady"),
      WebSocket: Counting,
    });
    // Pings every 20 ms, each given 500 ms: several would overlap if each had its own timer.
    const realtime = client.realtime({ heartbeatInterval: 20, heartbeatTimeout: 500 });
    opened.push(realtime);
    const changes = [];
    realtime.onState((change) => changes.push(change.state));
    await realtime.connect();
    await until(() => pings >= 30, "30 pings");
    assert.deepEqual(changes, ["connecting", "open"]);
  });

  it("stops on a refused token and says why", async () => {
    const client = new TesseraClient({ baseUrl: server.baseUrl, token: "e30.e30.c2ln", WebSocket });
    const realtime = client.realtime();
    opened.push(realtime);
    const changes = [];
    realtime.onState((change) => changes.push(change));
    const error = await realtime.connect().catch((e) => e);
    assert.ok(error instanceof RealtimeRefused, String(error));
    assert.equal(error.code, 4001);
    assert.equal(changes.at(-1).state, "closed");
    assert.equal(realtime.state, "closed");
  });

  it("sends a token that cannot be a subprotocol in the URL instead", async () => {
    // "/" and "=" may not appear in a subprotocol: the constructor would throw.
    const client = new TesseraClient({ baseUrl: server.baseUrl, token: "opaque/token==", WebSocket });
    const realtime = client.realtime();
    opened.push(realtime);
    const error = await realtime.connect().catch((e) => e);
    assert.ok(error instanceof RealtimeRefused, String(error));
    assert.equal(error.code, 4001); // the server read it, and refused it
  });

  it("calls each listener for its own type; '*' for every message", async () => {
    const { direct, realtime } = await setUp("types");
    const notifications = [];
    const ticks = [];
    const every = [];
    realtime.on("notification", (message) => notifications.push(message));
    const stopTicks = realtime.on("tick", (message) => ticks.push(message.n));
    realtime.on("*", (message) => every.push(message.type));
    await realtime.connect();
    await burst(direct, 0, 1);
    await direct.execute("probe", { action: "notify", title: "Built" });
    await until(() => every.length === 2, "two messages");
    stopTicks();
    await burst(direct, 1, 1);
    await until(() => every.length === 3, "a third message");

    assert.deepEqual(every, ["tick", "notification", "tick"]);
    assert.deepEqual(ticks, [0]);
    assert.equal(notifications.length, 1);
    assert.equal(notifications[0].subtype, "new");
    assert.equal(notifications[0].data.title, "Built");
    assert.equal(notifications[0].data.type, "probe_done");
  });
});
