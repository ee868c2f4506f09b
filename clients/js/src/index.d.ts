// Types of tessera-client. The runtime code is plain ES modules in this folder.

/** Where the signed-in token is kept; each method may answer a promise. */
export interface TokenStorage {
  get(): string | null | Promise<string | null>;
  set(token: string): void | Promise<void>;
  clear(): void | Promise<void>;
}

/** A token kept in memory, gone when the page or process ends. */
export function memoryStorage(): TokenStorage;
/** A token kept in localStorage (or the `area` given, e.g. sessionStorage) under `key`. */
export function webStorage(key?: string, area?: Storage): TokenStorage;

/** The WebSocket constructor the client uses: the browser's, Node 22's or the `ws` package's. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  // `any` events: the browser's, Node's and the ws package's event types all fit.
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
}

export interface ClientOptions {
  /** The server, e.g. "https://api.example.com"; default: the page's origin. */
  baseUrl?: string;
  /** Where the token is kept; default: in memory. */
  storage?: TokenStorage;
  /** A token to start with (kept in `storage`). */
  token?: string;
  /** Answers the token for each call (an OIDC library's access token); wins over `storage`. */
  getToken?: () => string | null | undefined | Promise<string | null | undefined>;
  fetch?: typeof fetch;
  WebSocket?: WebSocketConstructor;
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean | null | undefined>;
  signal?: AbortSignal;
  /** Send no token. */
  anonymous?: boolean;
}

export interface PluginInfo {
  name: string;
  display_name: string;
  description: string;
  version: string;
  [key: string]: unknown;
}

export class TesseraClient {
  constructor(options?: ClientOptions);
  readonly baseUrl: string;
  readonly storage: TokenStorage;
  readonly auth: Auth;
  readonly notifications: Notifications;
  readonly settings: PluginSettings;
  /** The token calls carry now, or null. */
  token(): Promise<string | null>;
  /** Call a plugin; answers its result, or throws a TesseraError. */
  execute<Result = Record<string, unknown>>(
    plugin: string,
    data?: Record<string, unknown>,
    options?: { signal?: AbortSignal },
  ): Promise<Result>;
  plugins(options?: { signal?: AbortSignal }): Promise<unknown>;
  realtime(options?: RealtimeOptions): Realtime;
  request<Result = unknown>(method: string, path: string, options?: RequestOptions): Promise<Result>;
}

export interface TokenAnswer {
  access_token: string;
  token_type: "bearer";
  expires_in: number;
  user_id: string;
  username: string;
}

export interface Me {
  user_id: string;
  username: string;
  app_id: string;
  roles: string[];
  is_superadmin: boolean;
}

export class Auth {
  register(username: string, password: string, email?: string): Promise<TokenAnswer>;
  login(username: string, password: string): Promise<TokenAnswer>;
  logout(): Promise<void>;
  setToken(token: string): Promise<void>;
  signedIn(): Promise<boolean>;
  me(options?: { signal?: AbortSignal }): Promise<Me>;
}

export interface Notification {
  id: string;
  type: string;
  title: string;
  message: string;
  metadata: Record<string, unknown>;
  channels: string[];
  read: boolean;
  created_at: string;
}

export type Preferences = Record<string, { enabled: boolean }>;

export class Notifications {
  list(options?: {
    unreadOnly?: boolean;
    limit?: number;
    offset?: number;
    signal?: AbortSignal;
  }): Promise<{ notifications: Notification[]; count: number; unread_count: number }>;
  count(): Promise<{ count: number; unread_count: number }>;
  markRead(id: string): Promise<{ success: boolean; id: string; read: boolean }>;
  markUnread(id: string): Promise<{ success: boolean; id: string; read: boolean }>;
  markAllRead(): Promise<{ success: boolean; updated: number }>;
  delete(id: string): Promise<{ success: boolean; id: string }>;
  preferences(): Promise<Preferences>;
  setPreferences(preferences: Preferences): Promise<{ preferences: Preferences }>;
  config(): Promise<{
    config: { categories: unknown[]; notifications: Array<{ id: string; [key: string]: unknown }> };
    preferences: Preferences;
  }>;
}

export class PluginSettings {
  get<Settings = Record<string, unknown>>(plugin: string): Promise<Settings>;
  /** Throws a ValidationError naming `field` for invalid values. */
  save<Settings = Record<string, unknown>>(plugin: string, values: Settings): Promise<Settings>;
}

export interface RealtimeOptions {
  /** "/ws" by default. */
  path?: string;
  /** Resume after this message number (one an earlier page kept). */
  lastSeq?: number | null;
  /** Milliseconds between the client's pings (15 000). */
  heartbeatInterval?: number;
  /** Milliseconds to wait for any answer after a ping before reconnecting (10 000). */
  heartbeatTimeout?: number;
  /** Milliseconds: the first reconnect delay's ceiling (500), doubling up to maxDelay (30 000). */
  minDelay?: number;
  maxDelay?: number;
}

/** A message from the server; plugin messages carry the `seq` the server numbered them with. */
export interface RealtimeMessage {
  type: string;
  seq?: number;
  [key: string]: unknown;
}

export interface NotificationMessage extends RealtimeMessage {
  type: "notification";
  subtype: "new";
  seq: number;
  data: Notification;
}

export interface ResyncNotice {
  type: "resync";
  /** The last message the client had. */
  last_seq: number;
  /** The first message still kept: those between were lost; reload the app's state. */
  first_seq: number;
}

export type RealtimeState =
  | { state: "connecting"; attempt: number }
  | { state: "open"; lastSeq: number | null }
  | { state: "reconnecting"; attempt: number; delay: number; code: number; reason: string }
  | { state: "closed"; code: number; reason: string; error?: RealtimeRefused };

export class Realtime {
  readonly state: RealtimeState["state"] | "idle";
  /** The highest message number received: keep it to resume from another page. */
  readonly lastSeq: number | null;
  readonly attempt: number;
  on(type: "notification", listener: (message: NotificationMessage) => void): () => void;
  on(type: "resync", listener: (notice: ResyncNotice) => void): () => void;
  on(type: "connected", listener: (message: { type: "connected"; last_seq: number }) => void): () => void;
  on(type: string, listener: (message: RealtimeMessage) => void): () => void;
  onState(listener: (change: RealtimeState) => void): () => void;
  connect(): Promise<void>;
  close(): void;
}

export class RealtimeRefused extends Error {
  readonly code: number;
  readonly reason: string;
}

export class TesseraError extends Error {
  readonly status: number;
  /** The server's machine-readable code, e.g. "plugin_not_found"; null when absent. */
  readonly errorCode: string | null;
  /** The request id to find the call in the server's log. */
  readonly requestId: string | null;
  /** Seconds to wait before retrying (Retry-After), when the server said. */
  readonly retryAfter: number | null;
  /** The invalid field, for validation errors. */
  readonly field: string | null;
  /** The answer's body as parsed. */
  readonly body: unknown;
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
export class NetworkError extends Error {}
