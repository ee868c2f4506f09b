// Waiting for something the server does, with a generous bound so a failure ends the test.

/** Resolves once `condition()` is true; rejects with `what` (or what it answers) after `ms`. */
export async function until(condition, what, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${typeof what === "function" ? what() : what}`);
    }
    await new Promise((done) => setTimeout(done, 10));
  }
}
