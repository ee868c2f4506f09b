// The /docs console in headless Chromium: sign in, list the actions, send a call, see messages.
import assert from "node:assert/strict";
import { after, before, it } from "node:test";

import { EXAMPLE_PLUGINS, startServer } from "../test/support/server.js";
import { launch, openPage, screenshot } from "./support.js";

let server;
let browser;
before(async () => {
  server = await startServer({ plugins: EXAMPLE_PLUGINS });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

it("lists each plugin's actions, sends a valid starter body, shows the answer and live messages", async () => {
  const context = await browser.newContext();
  const { page, errors } = await openPage(context);
  await page.goto(`${server.baseUrl}/docs`);
  await page.fill("#token", await server.token("alice"));
  await page.click("#load");
  await page.waitForSelector("text=Signed in as alice");

  const todo = page.locator(".plugin", { hasText: "Todo (todo)" });
  const actions = await todo.locator(".action").allTextContents();
  assert.deepEqual(actions, ["list", "create", "get", "update", "delete", "activity", "settings", "save_settings"]);
  assert.deepEqual(await page.locator(".plugin", { hasText: "(notes)" }).locator(".action").allTextContents(), [
    "(actions not declared)",
  ]);

  await todo.locator(".action", { hasText: /^create$/ }).click();
  assert.deepEqual(JSON.parse(await page.inputValue("#body")), {
    action: "create",
    title: "buy milk",
    priority: "low",
  });
  assert.match(await page.textContent("#schema"), /"minLength": 1/);
  await page.waitForSelector("#socket:has-text('connected')");
  await page.click("#send");
  await page.waitForSelector("#status:has-text('200')");
  assert.equal(JSON.parse(await page.textContent("#response")).item.title, "buy milk");

  // The call pushed a todo_update and a notification to this user's sockets.
  await page.waitForSelector(".message:has-text('todo_update')");
  await page.waitForSelector(".message:has-text('\"notification\"')");
  await screenshot(page, "console");
  assert.deepEqual(errors, []);
  await context.close();
});

it("registers and signs in a local account", async () => {
  const context = await browser.newContext();
  const { page, errors } = await openPage(context);
  await page.goto(`${server.baseUrl}/docs`);
  await page.fill("#username", "bob");
  await page.fill("#password", "a long enough password");
  await page.click("#register");
  await page.waitForSelector("text=Signed in as bob");
  await page.waitForSelector(".action");
  await page.reload(); // the token is kept for the tab
  await page.waitForSelector("text=Signed in as bob");
  await page.fill("#username", "bob");
  await page.fill("#password", "not the password");
  await page.click("#login");
  await page.waitForSelector("text=Sign-in failed: Unknown username or wrong password.");
  assert.deepEqual(errors.filter((e) => !e.includes("401")), []);
  await context.close();
});
