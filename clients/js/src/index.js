export { TesseraClient } from "./client.js";
export { Auth } from "./auth.js";
export { Notifications } from "./notifications.js";
export { PluginSettings } from "./plugin_settings.js";
export { Realtime, RealtimeRefused } from "./realtime.js";
export { memoryStorage, webStorage } from "./storage.js";
export {
  BadRequestError,
  ConflictError,
  ForbiddenError,
  GatewayTimeoutError,
  NetworkError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  ServerError,
  TesseraError,
  UnauthorizedError,
  UnavailableError,
  ValidationError,
} from "./errors.js";
