// Reading an error answer: the parts a server may leave out, and Retry-After as a date.
import assert from "node:assert/strict";
import { it } from "node:test";

import { errorFor } from "../src/errors.js";
import { TesseraError, UnavailableError } from "../src/index.js";

it("reads Retry-After given as an HTTP date", () => {
  const later = new Date(Date.now() + 120_000).toUTCString();
  const error = errorFor(503, { error: "busy", error_code: "busy" }, new Headers({ "Retry-After": later }));
  assert.ok(error instanceof UnavailableError);
  assert.ok(error.retryAfter >= 118 && error.retryAfter <= 120, `${error.retryAfter}`);
});

it("reads an answer that is not JSON, from a proxy in front of the server", () => {
  const error = errorFor(502, "Bad Gateway", new Headers({ "X-Request-ID": "abc" }));
  assert.equal(error.constructor, TesseraError);
  assert.equal(error.message, "Bad Gateway");
  assert.equal(error.requestId, "abc");
  assert.equal(error.errorCode, null);
  assert.equal(error.retryAfter, null);
});

it("reads the reference error mode's detail", () => {
  const error = errorFor(500, { detail: "Plugin execution failed." }, new Headers());
  assert.equal(error.message, "Plugin execution failed.");
});
