// Headless Chromium for the browser tests: Debian's package, driven by playwright-core.
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ARTIFACTS = resolve(fileURLToPath(import.meta.url), "../../artifacts");
const EXECUTABLE = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** A headless Chromium; `--no-sandbox` because CI runs as root. */
export function launch() {
  return chromium.launch({ executablePath: EXECUTABLE, args: ["--no-sandbox"] });
}

/** A page that records its errors (script errors, CSP refusals, failed requests). */
export async function openPage(context) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  return { page, errors };
}

/** Save a screenshot for CI to keep; answers its path. */
export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
