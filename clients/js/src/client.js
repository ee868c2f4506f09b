import { errorFor, NetworkError } from "./errors.js";
import { Auth } from "./auth.js";
import { Notifications } from "./notifications.js";
import { PluginSettings } from "./plugin_settings.js";
import { Realtime } from "./realtime.js";
import { memoryStorage } from "./storage.js";

/**
 * A connection to one Tessera server.
 *
 *     const tessera = new TesseraClient({ baseUrl: "https://api.example.com" });
 *     await tessera.auth.login("alice", "a long password");
 *     const { items } = await tessera.execute("todo", { action: "list" });
 *
 * Options: `baseUrl` (default: the page's origin), `storage` (where the token is kept;
 * default in memory), `token` (a token to start with), `getToken` (a function answering
 * the token for each call, such as an OIDC library's; it wins over `storage`), `fetch`
 * and `WebSocket` (implementations, for runtimes without global ones).
 */
export class TesseraClient {
  constructor(options = {}) {
    const base = options.baseUrl ?? globalThis.location?.origin;
    if (!base) throw new TypeError("TesseraClient needs baseUrl outside a browser page");
    this.baseUrl = String(base).replace(/\/+$/, "");
    this.storage = options.storage ?? memoryStorage();
    this.getToken = options.getToken ?? null;
    this.fetch = options.fetch ?? globalThis.fetch?.bind(globalThis);
    this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this.ready = Promise.resolve(options.token ? this.storage.set(options.token) : undefined);
    this.auth = new Auth(this);
    this.notifications = new Notifications(this);
    this.settings = new PluginSettings(this);
  }

  /** The token calls carry now: from `getToken` when given, else from the storage. */
  async token() {
    await this.ready;
    if (this.getToken) return (await this.getToken()) || null;
    return (await this.storage.get()) || null;
  }

  /** Call a plugin: `execute("todo", {action: "create", title: "milk"})` answers its result. */
  execute(plugin, data = {}, options = {}) {
    const path = `/api/execute/${encodeURIComponent(plugin)}`;
    return this.request("POST", path, { ...options, body: data });
  }

  /** The plugins the server runs: name, display name, description, version, state. */
  plugins(options = {}) {
    return this.request("GET", "/api/plugins", options);
  }

  /** A realtime connection to the caller's messages; call `connect()` on it. */
  realtime(options = {}) {
    return new Realtime(this, options);
  }

  /**
   * One request to the server with the caller's token; the parsed JSON answer, or a
   * TesseraError for an error status. Options: `body` (sent as JSON), `query` (an object;
   * undefined values are left out), `signal`, `anonymous` (send no token).
   */
  async request(method, path, options = {}) {
    if (!this.fetch) throw new TypeError("no fetch: pass the fetch option (Node 18+ has one)");
    const headers = { Accept: "application/json" };
    const token = options.anonymous ? null : await this.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method, headers, signal: options.signal };
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    let response;
    try {
      response = await this.fetch(this.baseUrl + path + queryString(options.query), init);
    } catch (error) {
      if (error?.name === "AbortError") throw error;
      const why = error?.cause?.message ?? error?.message ?? String(error);
      throw new NetworkError(`${method} ${path}: no answer from ${this.baseUrl} (${why})`, error);
    }
    const body = parse(await response.text());
    if (!response.ok) throw errorFor(response.status, body, response.headers);
    return body;
  }
}

function queryString(query) {
  if (!query) return "";
  const pairs = Object.entries(query).filter(([, value]) => value !== undefined && value !== null);
  return pairs.length ? "?" + new URLSearchParams(pairs.map(([k, v]) => [k, String(v)])) : "";
}

function parse(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
