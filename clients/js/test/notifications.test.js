// Notifications and plugin settings, the signed-in user's own, through a real server.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { BadRequestError, NotFoundError, TesseraClient, ValidationError } from "../src/index.js";
import { startServer } from "./support/server.js";

let server;
before(async () => {
  server = await startServer();
});
after(() => server.stop());

async function clientOf(userId) {
  return new TesseraClient({ baseUrl: server.baseUrl, token: await server.token(userId) });
}

describe("notifications", () => {
  it("lists, counts, marks read and unread, marks all read, deletes", async () => {
    const client = await clientOf("nina");
    const first = await client.execute("probe", { action: "notify", title: "one" });
    const second = await client.execute("probe", { action: "notify", title: "two" });

    const listed = await client.notifications.list();
    assert.deepEqual(listed.notifications.map((n) => n.title), ["two", "one"]);
    assert.equal(listed.count, 2);
    assert.deepEqual(await client.notifications.count(), { count: 2, unread_count: 2 });

    assert.equal((await client.notifications.markRead(first.id)).read, true);
    const unread = await client.notifications.list({ unreadOnly: true });
    assert.deepEqual(unread.notifications.map((n) => n.id), [second.id]);
    assert.deepEqual((await client.notifications.list({ limit: 1, offset: 1 })).notifications.map((n) => n.id), [first.id]);
    assert.equal((await client.notifications.markUnread(first.id)).read, false);

    assert.equal((await client.notifications.markAllRead()).updated, 2);
    assert.equal((await client.notifications.count()).unread_count, 0);

    assert.equal((await client.notifications.delete(first.id)).success, true);
    assert.equal((await client.notifications.list()).count, 1);
    await assert.rejects(client.notifications.delete(first.id), NotFoundError);
  });

  it("reaches only the caller's own", async () => {
    const owner = await clientOf("olga");
    const { id } = await owner.execute("probe", { action: "notify", title: "mine" });
    const other = await clientOf("oscar");
    await assert.rejects(other.notifications.markRead(id), NotFoundError);
    await assert.rejects(other.notifications.delete(id), NotFoundError);
    assert.equal((await other.notifications.list()).count, 0);
  });

  it("keeps preferences, and shows the declared types", async () => {
    const client = await clientOf("pia");
    const saved = await client.notifications.setPreferences({ probe_done: { enabled: false } });
    assert.deepEqual(saved.preferences, { probe_done: { enabled: false } });
    assert.deepEqual(await client.notifications.preferences(), { probe_done: { enabled: false } });
    const config = await client.notifications.config();
    const types = config.config.notifications.map((n) => n.id);
    assert.ok(types.includes("probe_done"), JSON.stringify(config));
    assert.deepEqual(config.preferences.probe_done, { enabled: false });
    const bad = await client.notifications.list({ limit: 501 }).catch((e) => e);
    assert.ok(bad instanceof BadRequestError, String(bad));
  });
});

describe("plugin settings", () => {
  it("answers the defaults, saves over them, and names the invalid field", async () => {
    const client = await clientOf("sam");
    assert.deepEqual(await client.settings.get("probe"), { color: "red", size: 3 });
    assert.deepEqual(await client.settings.save("probe", { size: 5 }), { color: "red", size: 5 });
    assert.deepEqual(await client.settings.get("probe"), { color: "red", size: 5 });

    const error = await client.settings.save("probe", { size: 0 }).catch((e) => e);
    assert.ok(error instanceof ValidationError, String(error));
    assert.equal(error.status, 422);
    assert.equal(error.field, "size");
    assert.match(error.message, /minimum/);
    assert.deepEqual(await client.settings.get("probe"), { color: "red", size: 5 });

    await assert.rejects(client.settings.get("nowhere"), NotFoundError);
  });
});
