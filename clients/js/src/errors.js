/**
 * The errors a Tessera call can raise, one class per HTTP status the runtime answers:
 *
 *     TesseraError              any error answer; status, errorCode, requestId, body
 *     ├── BadRequestError        400  the body or a parameter is malformed
 *     ├── UnauthorizedError      401  no token, an expired or forged one, a failed login
 *     ├── ForbiddenError         403  the caller lacks a role (or the plugin refused)
 *     ├── NotFoundError          404  unknown plugin, notification or route
 *     ├── ConflictError          409  a taken username
 *     ├── PayloadTooLargeError   413  a body over the server's limit
 *     ├── ValidationError        422  input that fails validation; `field` names it
 *     ├── RateLimitedError       429  too many calls; `retryAfter` says when to retry
 *     ├── ServerError            500  the plugin or the server failed (details in its log)
 *     ├── UnavailableError       503  a plugin failed to load, or the server is busy
 *     └── GatewayTimeoutError    504  the plugin ran past its timeout
 *     NetworkError               no answer at all (server down, CORS refusal, aborted)
 *
 * Plugins' own error dicts ({"error": ...}) arrive as the class of their status too.
 */

/** An error answer of the server. */
export class TesseraError extends Error {
  /**
   * @param {string} message
   * @param {{status: number, errorCode: string | null, requestId: string | null,
   *          retryAfter: number | null, field: string | null, body: unknown}} details
   */
  constructor(message, details) {
    super(message);
    this.name = new.target.name;
    this.status = details.status;
    this.errorCode = details.errorCode;
    this.requestId = details.requestId;
    this.retryAfter = details.retryAfter;
    this.field = details.field;
    this.body = details.body;
  }
}

export class BadRequestError extends TesseraError {}
export class UnauthorizedError extends TesseraError {}
export class ForbiddenError extends TesseraError {}
export class NotFoundError extends TesseraError {}
export class ConflictError extends TesseraError {}
export class PayloadTooLargeError extends TesseraError {}
export class ValidationError extends TesseraError {}
export class RateLimitedError extends TesseraError {}
export class ServerError extends TesseraError {}
export class UnavailableError extends TesseraError {}
export class GatewayTimeoutError extends TesseraError {}

/** The request never got an answer: the server is unreachable, or the browser refused it. */
export class NetworkError extends Error {
  /** @param {string} message @param {unknown} cause */
  constructor(message, cause) {
    super(message, { cause });
    this.name = "NetworkError";
  }
}

const CLASSES = new Map([
  [400, BadRequestError],
  [401, UnauthorizedError],
  [403, ForbiddenError],
  [404, NotFoundError],
  [409, ConflictError],
  [413, PayloadTooLargeError],
  [422, ValidationError],
  [429, RateLimitedError],
  [500, ServerError],
  [503, UnavailableError],
  [504, GatewayTimeoutError],
]);

/**
 * The error for an answer with an error status.
 * @param {number} status
 * @param {unknown} body the parsed JSON body, or the text when it was not JSON
 * @param {Headers} headers
 */
export function errorFor(status, body, headers) {
  const fields = body !== null && typeof body === "object" ? body : {};
  const text = typeof body === "string" && body ? body : null;
  const message =
    stringOr(fields.error) ?? stringOr(fields.detail) ?? text ?? `HTTP ${status}`;
  const Class = CLASSES.get(status) ?? TesseraError;
  return new Class(message, {
    status,
    errorCode: stringOr(fields.error_code),
    requestId: stringOr(fields.request_id) ?? headers.get("x-request-id"),
    retryAfter: retryAfter(headers.get("retry-after")),
    field: stringOr(fields.field),
    body,
  });
}

/** Seconds to wait from a Retry-After header: a number of seconds or an HTTP date. */
function retryAfter(value) {
  if (value === null || value.trim() === "") return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

function stringOr(value) {
  return typeof value === "string" ? value : null;
}
