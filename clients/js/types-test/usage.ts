// Compiled by `npm run typecheck` (never run): the types describe how the client is used.
import {
  RateLimitedError,
  TesseraClient,
  ValidationError,
  webStorage,
  type NotificationMessage,
  type RealtimeState,
} from "../src/index.js";

export async function usage(): Promise<void> {
  const client = new TesseraClient({
    baseUrl: "http://127.0.0.1:8000",
    storage: webStorage("token", sessionStorage),
    WebSocket: globalThis.WebSocket, // the browser's
  });
  await client.auth.login("alice", "password");
  const { items } = await client.execute<{ items: string[] }>("todo", { action: "list" });
  items.map((item) => item.toUpperCase());
  try {
    await client.settings.save("todo", { max_items: 0 });
  } catch (error) {
    if (error instanceof ValidationError) console.log(error.field, error.requestId);
    if (error instanceof RateLimitedError) console.log(error.retryAfter);
  }
  const realtime = client.realtime({ minDelay: 1000 });
  realtime.on("notification", (message: NotificationMessage) => message.data.title);
  realtime.on("resync", (notice) => notice.first_seq);
  realtime.onState((change: RealtimeState) => change.state === "reconnecting" && change.delay);
  await realtime.connect();
  const { unread_count } = await client.notifications.count();
  console.log(unread_count, realtime.lastSeq);
}
