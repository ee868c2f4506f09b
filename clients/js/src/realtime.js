/**
 * The realtime connection: the signed-in user's messages from `/ws`, in order, each once.
 *
 * The token travels as a subprotocol (`["mozaiks", token]`), which browsers can send where
 * they cannot set headers. The server numbers each message of a user (`seq`); the
 * connection keeps the highest number seen and reconnects with `?last_seq=N`, so the
 * server first replays what was missed. A message whose number was seen already is
 * dropped, so no message arrives twice either. When the missed messages are older than
 * the server keeps, a `resync` message comes first: the app reloads its state.
 */

const SUBPROTOCOL = "mozaiks";
// What a subprotocol may hold (RFC 6455: an HTTP token). JWTs fit; an opaque token with
// "/", "=" or a space does not, and goes in the URL instead (?access_token=).
const PROTOCOL_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Close codes after which reconnecting with the same token cannot help. */
const REFUSED = new Map([
  [4001, "the server refused the token"],
  [4003, "the socket belongs to another user"],
]);
const DEFAULTS = {
  path: "/ws",
  heartbeatInterval: 15_000,
  heartbeatTimeout: 10_000,
  minDelay: 500,
  maxDelay: 30_000,
};

/** The server closed the socket for a reason reconnecting cannot fix (a bad token). */
export class RealtimeRefused extends Error {
  constructor(code, reason) {
    super(`${REFUSED.get(code) ?? "refused"} (close code ${code}: ${reason || "no reason"})`);
    this.name = "RealtimeRefused";
    this.code = code;
    this.reason = reason;
  }
}

export class Realtime {
  /**
   * Options: `path` ("/ws"), `lastSeq` (resume after this message, e.g. one kept from an
   * earlier page), `heartbeatInterval` and `heartbeatTimeout` (ms: a ping is sent every
   * interval; no answer within the timeout drops the socket and reconnects), `minDelay`
   * and `maxDelay` (ms: reconnect delays double from the first to the second, with jitter).
   */
  constructor(client, options = {}) {
    this.client = client;
    this.options = { ...DEFAULTS, ...options };
    this.lastSeq = options.lastSeq ?? null;
    this.state = "idle";
    this.attempt = 0;
    this.socket = null;
    this.stopped = true;
    this.listeners = new Map();
    this.stateListeners = new Set();
    this.timers = { reconnect: null, beat: null, answer: null }; // answer: a ping awaits one
    this.waiting = null;
  }

  /**
   * Call `listener(message)` for each message of `type` ("notification", "todo_update",
   * "resync", "connected"...), or for every message numbered by the server with "*".
   * Answers a function that removes the listener.
   */
  on(type, listener) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(listener);
    return () => this.listeners.get(type)?.delete(listener);
  }

  /**
   * Call `listener({state, ...})` at each change: "connecting", "open", "reconnecting"
   * (with `attempt`, `delay` in ms, and the `code` and `reason` of the close), "closed"
   * (with `code`, `reason` and, when the server refused, `error`).
   */
  onState(listener) {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /**
   * Open the connection; resolves once the server greets it (`connected`). It then stays
   * open, reconnecting as needed, until `close()` or a refusal (RealtimeRefused).
   */
  connect() {
    if (!this.stopped) return this.waiting?.promise ?? Promise.resolve();
    this.stopped = false;
    this.waiting = deferred();
    this.open();
    return this.waiting.promise;
  }

  /** Close for good: no reconnect. */
  close() {
    this.stopped = true;
    const socket = this.socket;
    this.detach();
    clearTimeout(this.timers.reconnect);
    socket?.close(1000, "client closed");
    this.settle(new Error("closed before connecting"));
    this.setState({ state: "closed", code: 1000, reason: "client closed" });
  }

  async open() {
    this.setState({ state: "connecting", attempt: this.attempt });
    let token;
    try {
      token = await this.client.token();
    } catch (error) {
      return this.retry(1006, `no token: ${error?.message ?? error}`);
    }
    if (this.stopped) return;
    if (!token) return this.refuse(4001, "not signed in: no token to connect with");
    const WebSocketImpl = this.client.WebSocket;
    if (!WebSocketImpl) {
      return this.refuse(1006, "no WebSocket: pass the WebSocket option (e.g. the ws package)");
    }
    const inProtocol = PROTOCOL_TOKEN.test(token);
    let socket;
    try {
      const url = this.url(inProtocol ? null : token);
      socket = new WebSocketImpl(url, inProtocol ? [SUBPROTOCOL, token] : [SUBPROTOCOL]);
    } catch (error) {
      return this.refuse(1006, `cannot open a WebSocket: ${error?.message ?? error}`);
    }
    this.socket = socket;
    socket.onmessage = (event) => this.receive(socket, event.data);
    socket.onclose = (event) => this.closed(socket, event.code, event.reason);
    socket.onerror = () => {}; // a close event follows, with the code
  }

  url(token) {
    // Appended, as HTTP paths are, so that a base URL's own path (/tessera) is kept.
    const url = new URL(this.client.baseUrl.replace(/^http/, "ws") + this.options.path);
    if (this.lastSeq !== null) url.searchParams.set("last_seq", String(this.lastSeq));
    if (token) url.searchParams.set("access_token", token);
    return url.toString();
  }

  receive(socket, data) {
    if (socket !== this.socket) return;
    this.heard();
    let message;
    try {
      message = JSON.parse(typeof data === "string" ? data : String(data));
    } catch {
      return;
    }
    if (message === null || typeof message !== "object") return;
    if (message.type === "ping") return this.send({ type: "pong" });
    if (message.type === "pong") return;
    if (message.type === "connected") return this.greeted(message);
    if (message.type === "resync") {
      // What follows starts at first_seq, which may be below a number kept from a wiped store.
      this.lastSeq = message.first_seq - 1;
      return this.emit("resync", message);
    }
    if (typeof message.seq === "number") {
      if (this.lastSeq !== null && message.seq <= this.lastSeq) return;
      this.lastSeq = message.seq;
    }
    this.emit(message.type, message);
    this.emit("*", message);
  }

  greeted(message) {
    if (this.lastSeq === null) this.lastSeq = message.last_seq;
    this.attempt = 0;
    this.beat();
    this.setState({ state: "open", lastSeq: this.lastSeq });
    this.emit("connected", message);
    this.settle(null);
  }

  /**
   * Ping every interval; a socket silent for the timeout after a ping is dead. While a
   * ping waits for its answer no other is sent, so an interval shorter than the timeout
   * still gives each ping the whole timeout.
   */
  beat() {
    clearTimeout(this.timers.beat);
    this.timers.beat = setTimeout(() => {
      if (!this.socket) return;
      if (this.timers.answer === null) {
        this.send({ type: "ping" });
        this.timers.answer = setTimeout(() => this.drop(), this.options.heartbeatTimeout);
      }
      this.beat();
    }, this.options.heartbeatInterval);
  }

  /** Any message proves the socket alive. */
  heard() {
    clearTimeout(this.timers.answer);
    this.timers.answer = null;
  }

  /** Give up on a silent socket: its close may never come, so reconnect now. */
  drop() {
    const socket = this.socket;
    this.detach();
    try {
      socket?.close(4000, "no answer to heartbeat");
    } catch {
      // some implementations refuse to close a socket still connecting
    }
    this.retry(1006, "no answer to heartbeat");
  }

  closed(socket, code, reason) {
    if (socket !== this.socket) return;
    this.detach();
    if (this.stopped) return;
    if (REFUSED.has(code)) return this.refuse(code, reason);
    if (code === 1008) this.lastSeq = null; // a last_seq the server refused: start afresh
    this.retry(code, reason);
  }

  retry(code, reason) {
    if (this.stopped) return;
    const ceiling = Math.min(this.options.maxDelay, this.options.minDelay * 2 ** this.attempt);
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.attempt += 1;
    this.setState({ state: "reconnecting", attempt: this.attempt, delay, code, reason });
    clearTimeout(this.timers.reconnect);
    this.timers.reconnect = setTimeout(() => this.open(), delay);
  }

  refuse(code, reason) {
    const error = new RealtimeRefused(code, reason);
    this.stopped = true;
    this.settle(error);
    this.setState({ state: "closed", code, reason, error });
  }

  detach() {
    clearTimeout(this.timers.beat);
    this.heard();
    if (this.socket) {
      this.socket.onmessage = this.socket.onclose = null;
    }
    this.socket = null;
  }

  send(message) {
    try {
      this.socket?.send(JSON.stringify(message));
    } catch {
      // closing: the close event reconnects
    }
  }

  settle(error) {
    if (!this.waiting) return;
    const waiting = this.waiting;
    this.waiting = null;
    if (error) waiting.reject(error);
    else waiting.resolve();
  }

  setState(change) {
    this.state = change.state;
    for (const listener of [...this.stateListeners]) call(listener, change);
  }

  emit(type, message) {
    for (const listener of [...(this.listeners.get(type) ?? [])]) call(listener, message);
  }
}

/** Run an app's listener; its error is reported, as an EventTarget does, not thrown here. */
function call(listener, value) {
  try {
    listener(value);
  } catch (error) {
    const report = globalThis.reportError ?? ((e) => setTimeout(() => { throw e; }));
    report(error);
  }
}

function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // a refusal is also told to state listeners
  return { promise, resolve, reject };
}
