// Calls and every error type, against a real `tessera serve`.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import {
  BadRequestError,
  ForbiddenError,
  GatewayTimeoutError,
  NetworkError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  ServerError,
  TesseraClient,
  TesseraError,
  UnauthorizedError,
  UnavailableError,
  ValidationError,
} from "../src/index.js";
import { freePort, startServer } from "./support/server.js";

let server;
let client;

before(async () => {
  server = await startServer({ args: ["--max-body-bytes", "2000"] });
  client = new TesseraClient({ baseUrl: server.baseUrl, token: await server.token("ann") });
});
after(() => server.stop());

/** The error `promise` rejects with, checked to be an instance of `Class`. */
async function failure(promise, Class) {
  const error = await promise.then(
    () => assert.fail("expected an error"),
    (error) => error,
  );
  assert.ok(error instanceof Class, `${error.name}: ${error.message}`);
  assert.ok(error instanceof TesseraError);
  assert.match(error.requestId, /^\S+$/);
  return error;
}

describe("execute", () => {
  it("answers the plugin's result", async () => {
    assert.deepEqual(await client.execute("probe", { action: "greet", name: "Ann" }), {
      greeting: "hello Ann",
    });
    assert.deepEqual(await client.execute("probe", { action: "echo", value: [1, "two"] }), {
      echo: [1, "two"],
    });
  });

  it("lists the plugins", async () => {
    const answer = await client.plugins();
    const names = JSON.stringify(answer);
    for (const name of ["probe", "guarded", "limited"]) assert.ok(names.includes(name), names);
  });
});

describe("errors", () => {
  it("400 for a body that is not an object", async () => {
    const error = await failure(client.execute("probe", [1, 2]), BadRequestError);
    assert.equal(error.status, 400);
    assert.equal(error.errorCode, "bad_request");
  });

  it("401 without a token, and with a forged one", async () => {
    const anonymous = new TesseraClient({ baseUrl: server.baseUrl });
    const error = await failure(anonymous.execute("probe", { action: "echo" }), UnauthorizedError);
    assert.equal(error.status, 401);
    assert.equal(error.errorCode, "unauthorized");
    const forged = new TesseraClient({ baseUrl: server.baseUrl, token: "e30.e30.c2ln" });
    await failure(forged.execute("probe", { action: "echo" }), UnauthorizedError);
  });

  it("403 for a missing role, and for a plugin's own refusal", async () => {
    const role = await failure(client.execute("guarded", {}), ForbiddenError);
    assert.equal(role.status, 403);
    assert.equal(role.errorCode, "role_required");
    const admin = new TesseraClient({
      baseUrl: server.baseUrl,
      token: await server.token("root", "--role", "admin"),
    });
    assert.deepEqual(await admin.execute("guarded", {}), { ok: true });
    const refused = await client.execute("probe", { action: "refuse" }).catch((e) => e);
    assert.ok(refused instanceof ForbiddenError);
    assert.equal(refused.message, "the probe refuses");
    assert.equal(refused.errorCode, "forbidden");
    assert.equal(refused.requestId.length > 0, true); // from the X-Request-ID header
  });

  it("404 for an unknown plugin", async () => {
    const error = await failure(client.execute("nowhere", {}), NotFoundError);
    assert.equal(error.status, 404);
    assert.equal(error.errorCode, "plugin_not_found");
  });

  it("413 for a body over the server's limit", async () => {
    const big = { action: "echo", value: "x".repeat(5000) };
    const error = await failure(client.execute("probe", big), PayloadTooLargeError);
    assert.equal(error.status, 413);
  });

  it("422 naming the field that fails the action's schema", async () => {
    const error = await failure(client.execute("probe", { action: "greet" }), ValidationError);
    assert.equal(error.status, 422);
    assert.equal(error.errorCode, "validation_error");
    assert.equal(error.field, "name");
  });

  it("429 with Retry-After past the plugin's rate limit", async () => {
    const limited = new TesseraClient({ baseUrl: server.baseUrl, token: await server.token("lim") });
    assert.deepEqual(await limited.execute("limited", {}), { ok: true });
    const error = await failure(limited.execute("limited", {}), RateLimitedError);
    assert.equal(error.status, 429);
    assert.equal(error.errorCode, "rate_limited");
    assert.ok(Number.isInteger(error.retryAfter) && error.retryAfter > 0, `${error.retryAfter}`);
  });

  it("500 for a plugin that raised, without its exception text", async () => {
    const error = await failure(client.execute("probe", { action: "crash" }), ServerError);
    assert.equal(error.status, 500);
    assert.equal(error.errorCode, "plugin_failed");
    assert.doesNotMatch(JSON.stringify(error.body), /crashed on request/);
  });

  it("503 for a plugin that failed to load", async () => {
    const error = await failure(client.execute("broken", {}), UnavailableError);
    assert.equal(error.status, 503);
    assert.equal(error.errorCode, "plugin_unavailable");
  });

  it("504 for a plugin past its timeout", async () => {
    const error = await failure(client.execute("sleepy", {}), GatewayTimeoutError);
    assert.equal(error.status, 504);
    assert.equal(error.errorCode, "timeout");
  });

  it("a NetworkError when nothing answers", async () => {
    const nowhere = new TesseraClient({ baseUrl: `http://127.0.0.1:${await freePort()}` });
    const error = await nowhere.execute("probe", {}).catch((e) => e);
    assert.ok(error instanceof NetworkError, String(error));
  });
});
