// examples/web in headless Chromium: a list kept live across tabs, and a notification
// pushed to one user's bell by another user's action.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, it } from "node:test";

import { EXAMPLE_PLUGINS, REPO, startServer } from "../test/support/server.js";
import { launch, openPage, screenshot } from "./support.js";

let server;
let browser;
before(async () => {
  const web = join(REPO, "examples", "web");
  const client = join(REPO, "clients", "js", "src");
  server = await startServer({
    plugins: EXAMPLE_PLUGINS,
    args: ["--static", `/app=${web},/app/client=${client}`],
  });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

it("updates the list from another tab and rings the bell for another user's kudos", async () => {
  const alice = await browser.newContext();
  const first = await openPage(alice);
  await first.page.goto(`${server.baseUrl}/app/`);
  await first.page.fill("#username", "alice");
  await first.page.fill("#password", "a long enough password");
  await first.page.click("#register");
  await first.page.waitForSelector("#live:has-text('open')");
  const aliceId = (await first.page.textContent("#who")).split("id ")[1];

  // A second tab of Alice's: signed in by the stored token; what it adds shows in the first.
  const second = await openPage(alice);
  await second.page.goto(`${server.baseUrl}/app/`);
  await second.page.waitForSelector("#live:has-text('open')");
  await second.page.fill("#title", "water the plants");
  await second.page.click("#add button");
  await first.page.waitForSelector("#items li:has-text('water the plants')");
  await first.page.waitForSelector("#badge:text-is('1')"); // todo's own notification

  // Bob, in a browser of his own, signs in with a token (a member may send kudos).
  const bob = await browser.newContext();
  const third = await openPage(bob);
  await third.page.goto(`${server.baseUrl}/app/`);
  await third.page.fill("#token", await server.token("bob", "--role", "member"));
  await third.page.click("#token-form button");
  await third.page.waitForSelector("#live:has-text('open')");
  await third.page.fill("#to", aliceId);
  await third.page.fill("#message", "great work");
  await third.page.click("#kudos button");
  await third.page.waitForSelector("#kudos-status:has-text('Sent.')");

  await first.page.waitForSelector("#badge:text-is('2')");
  await first.page.click("#bell");
  const entries = await first.page.locator("#notifications li").allTextContents();
  assert.deepEqual(entries, ["Kudos from bob: great work", "New todo: water the plants"]);
  await screenshot(first.page, "example-alice");
  await screenshot(third.page, "example-bob");

  // Reading one clears it from the count.
  await first.page.click("#notifications li:has-text('Kudos')");
  await first.page.waitForSelector("#badge:text-is('1')");
  for (const { errors } of [first, second, third]) assert.deepEqual(errors, []);
});

it("refuses kudos from a user without the member role, and says so", async () => {
  const carol = await browser.newContext();
  const { page, errors } = await openPage(carol);
  await page.goto(`${server.baseUrl}/app/`);
  await page.fill("#token", await server.token("carol"));
  await page.click("#token-form button");
  await page.waitForSelector("#live:has-text('open')");
  await page.fill("#to", "alice");
  await page.fill("#message", "hi");
  await page.click("#kudos button");
  await page.waitForSelector("#kudos-status:has-text(\"Sending kudos needs the 'member' role.\")");
  assert.deepEqual(errors.filter((e) => !e.includes("403")), []);
});
