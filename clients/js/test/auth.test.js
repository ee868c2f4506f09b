// Local-mode sign-in with a replaceable token storage, and an OIDC provider's token passed in.
import assert from "node:assert/strict";
import { generateKeyPairSync, createSign, randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { after, before, describe, it } from "node:test";

import {
  ConflictError,
  RateLimitedError,
  TesseraClient,
  UnauthorizedError,
  ValidationError,
} from "../src/index.js";
import { startServer } from "./support/server.js";

/** A storage of the app's own, asynchronous as a keychain would be; it records its calls. */
function recordingStorage() {
  const calls = [];
  let token = null;
  return {
    calls,
    get: async () => token,
    set: async (value) => {
      calls.push("set");
      token = value;
    },
    clear: async () => {
      calls.push("clear");
      token = null;
    },
  };
}

describe("local mode", () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(() => server.stop());

  it("registers, keeps the token in the app's storage, logs out and in", async () => {
    const storage = recordingStorage();
    const client = new TesseraClient({ baseUrl: server.baseUrl, storage });
    const account = await client.auth.register("alice", "a long enough password", "a@example.com");
    assert.equal(account.username, "alice");
    assert.equal(await storage.get(), account.access_token);
    assert.equal((await client.auth.me()).user_id, account.user_id);
    assert.deepEqual(await client.execute("probe", { action: "echo", value: 1 }), { echo: 1 });

    await client.auth.logout();
    assert.equal(await storage.get(), null);
    assert.equal(await client.auth.signedIn(), false);
    await assert.rejects(client.auth.me(), UnauthorizedError);

    const again = await client.auth.login("alice", "a long enough password");
    assert.equal(again.user_id, account.user_id);
    assert.equal(await storage.get(), again.access_token);
    assert.deepEqual(storage.calls, ["set", "clear", "set"]);
  });

  it("refuses a taken username, a short password and a wrong one", async () => {
    const client = new TesseraClient({ baseUrl: server.baseUrl });
    await client.auth.register("bob", "a long enough password");
    const taken = await client.auth.register("BOB", "another long password").catch((e) => e);
    assert.ok(taken instanceof ConflictError, String(taken));
    assert.equal(taken.errorCode, "username_taken");
    assert.equal(taken.field, "username");
    const short = await client.auth.register("carol", "short").catch((e) => e);
    assert.ok(short instanceof ValidationError, String(short));
    assert.equal(short.field, "password");
    const wrong = await client.auth.login("bob", "not the password").catch((e) => e);
    assert.ok(wrong instanceof UnauthorizedError, String(wrong));
    assert.equal(wrong.errorCode, "login_failed");
  });

  it("says when to retry once logins are rate limited", async () => {
    const client = new TesseraClient({ baseUrl: server.baseUrl });
    let error;
    for (let attempt = 0; attempt < 20 && !error; attempt++) {
      error = await client.auth.login("dave", "wrong password").then(
        () => assert.fail("logged in with a wrong password"),
        (e) => (e instanceof RateLimitedError ? e : undefined),
      );
    }
    assert.ok(error, "no 429 after 20 attempts");
    assert.equal(error.status, 429);
    assert.equal(error.errorCode, "rate_limited");
    assert.ok(error.retryAfter > 0, `${error.retryAfter}`);
  });
});

/** An OIDC provider: a JWKS over HTTP and RS256 tokens signed with its key. */
async function startProvider() {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const kid = randomUUID();
  const jwks = { keys: [{ ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" }] };
  const http = createServer((request, response) => {
    response.setHeader("Content-Type", "application/json");
    response.end(JSON.stringify(jwks));
  });
  await new Promise((done) => http.listen(0, "127.0.0.1", done));
  const issuer = "https://issuer.example";
  const audience = "tessera-tests";
  const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return {
    url: `http://127.0.0.1:${http.address().port}/jwks`,
    issuer,
    audience,
    token(sub) {
      const now = Math.floor(Date.now() / 1000);
      const head = part({ alg: "RS256", typ: "JWT", kid });
      const body = part({ sub, iss: issuer, aud: audience, iat: now, exp: now + 600 });
      const signature = createSign("RSA-SHA256").update(`${head}.${body}`).sign(privateKey);
      return `${head}.${body}.${signature.toString("base64url")}`;
    },
    close: () => new Promise((done) => http.close(done)),
  };
}

describe("OIDC mode", () => {
  let provider;
  let server;
  before(async () => {
    provider = await startProvider();
    server = await startServer({
      args: [
        "--auth-mode", "oidc",
        "--oidc-jwks-url", provider.url,
        "--oidc-issuer", provider.issuer,
        "--oidc-audience", provider.audience,
      ],
    });
  });
  after(async () => {
    await server.stop();
    await provider.close();
  });

  it("calls with the token getToken answers, asked again for each call", async () => {
    let asked = 0;
    const client = new TesseraClient({
      baseUrl: server.baseUrl,
      getToken: async () => {
        asked += 1;
        return provider.token("oidc-user-1");
      },
    });
    assert.equal((await client.auth.me()).user_id, "oidc-user-1");
    assert.deepEqual(await client.execute("probe", { action: "echo", value: "hi" }), { echo: "hi" });
    assert.equal(asked, 2);
  });

  it("calls with a token set by the app", async () => {
    const client = new TesseraClient({ baseUrl: server.baseUrl });
    await client.auth.setToken(provider.token("oidc-user-2"));
    assert.equal((await client.auth.me()).user_id, "oidc-user-2");
    await client.auth.setToken(provider.token("oidc-user-2").slice(0, -4) + "AAAA");
    await assert.rejects(client.auth.me(), UnauthorizedError);
  });
});
