// A TCP proxy the tests put between the client and the server, to cut or freeze connections.
import { createServer, connect } from "node:net";

/**
 * Forwards 127.0.0.1:<port> to `target`. `cut()` destroys every open connection (a
 * dropped network); `refuse(true)` closes new ones at once (the server unreachable);
 * `freeze()` keeps the open connections but forwards nothing more on them (a silent peer).
 */
export async function startProxy(targetPort) {
  const pairs = new Set();
  let refusing = false;
  let accepted = 0;
  const server = createServer((inbound) => {
    accepted += 1;
    if (refusing) return inbound.destroy();
    const outbound = connect(targetPort, "127.0.0.1");
    const pair = { inbound, outbound, frozen: false };
    pairs.add(pair);
    const forward = (from, to) =>
      from.on("data", (chunk) => {
        if (!pair.frozen) to.write(chunk);
      });
    forward(inbound, outbound);
    forward(outbound, inbound);
    const end = () => {
      pairs.delete(pair);
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on("close", end).on("error", end);
    outbound.on("close", end).on("error", end);
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address();
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    accepted: () => accepted,
    open: () => pairs.size,
    cut() {
      for (const { inbound, outbound } of pairs) {
        inbound.destroy();
        outbound.destroy();
      }
      pairs.clear();
    },
    refuse(on) {
      refusing = on;
    },
    freeze() {
      for (const pair of pairs) pair.frozen = true;
    },
    close() {
      this.cut();
      return new Promise((done) => server.close(done));
    },
  };
}
