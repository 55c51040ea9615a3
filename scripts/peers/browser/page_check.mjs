#!/usr/bin/env node
// Checks `trove serve --http`'s registry page in a real headless Chromium (driven by
// playwright-core, which downloads no browser: --chromium names the system one).
//
//   node page_check.mjs --url http://127.0.0.1:PORT --chromium /usr/bin/chromium \
//     --screenshots DIR --entry ID --search WORD [--timeout SECONDS]
//
// Prints ONE JSON line on stdout, {"ok":bool,"checks":[{"name","ok","detail"}],"screenshots":[..]},
// and exits 0 when every check passed, 1 when one failed (or the run timed out), 2 on a usage
// error. Everything else (progress, browser noise) goes to stderr.
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

const USAGE =
  "usage: node page_check.mjs --url http://127.0.0.1:PORT --chromium PATH --screenshots DIR " +
  "--entry ID --search WORD [--timeout SECONDS]";

const log = (...args) => console.error("page_check:", ...args);

const checks = [];
const screenshots = [];
let finished = false;

function emit(extra) {
  const ok = checks.length > 0 && checks.every((c) => c.ok) && !extra?.error;
  const out = { ok, checks, screenshots, ...extra };
  return { ok, line: JSON.stringify(out) + "\n" };
}

function finish(code, extra) {
  if (finished) return;
  finished = true;
  const { ok, line } = emit(extra);
  if (code === undefined) code = ok ? 0 : 1;
  // Playwright kills the browsers it launched on process exit.
  process.stdout.write(line, () => process.exit(code));
}

function usage(message) {
  console.error(`page_check: ${message}\n${USAGE}`);
  finish(2, { error: `usage: ${message}` });
}

function parseArgs(argv) {
  const known = ["url", "chromium", "screenshots", "entry", "search", "timeout"];
  const opts = { timeout: "60" };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") {
      console.error(USAGE);
      return null;
    }
    let key, value;
    if (arg.startsWith("--") && arg.includes("=")) {
      [key, value] = [arg.slice(2, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)];
    } else if (arg.startsWith("--")) {
      key = arg.slice(2);
      value = argv[++i];
      if (value === undefined) throw new Error(`--${key} needs a value`);
    } else {
      throw new Error(`unexpected argument \`${arg}\``);
    }
    if (!known.includes(key)) throw new Error(`unknown option --${key}`);
    opts[key] = value;
  }
  for (const key of known) {
    if (opts[key] === undefined || opts[key] === "") throw new Error(`--${key} is required`);
  }
  let base;
  try {
    base = new URL(opts.url);
  } catch {
    throw new Error(`--url \`${opts.url}\` is not a URL`);
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new Error(`--url must be http(s), not ${base.protocol}`);
  }
  opts.origin = base.origin;
  opts.timeout = Number(opts.timeout);
  if (!Number.isFinite(opts.timeout) || opts.timeout <= 0) throw new Error("--timeout must be a positive number of seconds");
  if (!opts.search.trim()) throw new Error("--search must not be blank");
  return opts;
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (err) {
  usage(err.message);
}
if (opts === null) finish(2, { error: "usage" });
if (opts) {
  main(opts).then(
    () => finish(),
    (err) => {
      log("error:", err?.stack || err);
      checks.push({ name: "run", ok: false, detail: String(err?.message || err) });
      finish(1);
    },
  );
}

// Runs one named check: `fn` returns a detail string (pass) or throws (fail, with its message).
async function check(name, fn) {
  log(`check ${name}`);
  try {
    const detail = await fn();
    checks.push({ name, ok: true, detail: detail ?? "" });
  } catch (err) {
    const detail = String(err?.message || err).split("\n")[0];
    log(`check ${name} FAILED: ${err?.stack || err}`);
    checks.push({ name, ok: false, detail });
  }
}

function expect(cond, message) {
  if (!cond) throw new Error(message);
}

// Every row of #entries: its data and whether a person would see it.
async function rows(page) {
  return page.$$eval("#entries tr.entry", (trs) =>
    trs.map((tr) => ({
      id: tr.dataset.id,
      text: tr.dataset.text || "",
      domain: tr.dataset.domain || "",
      hiddenAttr: tr.hasAttribute("hidden"),
      visible: tr.checkVisibility(),
      href: tr.querySelector("a")?.getAttribute("href") ?? null,
    })),
  );
}

const text = (page, selector) => page.$eval(selector, (el) => el.textContent.trim());
const visibleIds = (all) => all.filter((r) => r.visible).map((r) => r.id);

async function main(opts) {
  const timer = setTimeout(() => {
    log(`timed out after ${opts.timeout} s`);
    checks.push({ name: "timeout", ok: false, detail: `the run took longer than ${opts.timeout} s` });
    finish(1);
  }, opts.timeout * 1000);
  timer.unref();

  fs.mkdirSync(opts.screenshots, { recursive: true });
  const shot = async (page, name) => {
    const file = path.resolve(opts.screenshots, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    screenshots.push(file);
  };

  const origin = opts.origin;
  const word = opts.search;
  const words = word.toLowerCase().split(/\s+/).filter(Boolean);
  const matches = (r) => words.every((w) => r.text.includes(w));
  const listUrl = `${origin}/`;

  const requests = [];
  const problems = [];
  const watch = (page, label) => {
    page.on("request", (req) => requests.push(req.url()));
    page.on("console", (msg) => {
      if (msg.type() !== "error") return;
      const at = msg.location()?.url;
      problems.push(`${label} console error: ${msg.text()}${at ? ` (at ${at})` : ""}`);
    });
    page.on("response", (res) => {
      if (res.status() >= 400) problems.push(`${label} ${res.url()} answered ${res.status()}`);
    });
    page.on("pageerror", (err) => problems.push(`${label} page error: ${err.message}`));
    page.on("requestfailed", (req) =>
      problems.push(`${label} request failed: ${req.url()} (${req.failure()?.errorText})`),
    );
  };

  log(`launching ${opts.chromium}`);
  const browser = await chromium.launch({
    executablePath: opts.chromium,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    timeout: Math.min(30, opts.timeout) * 1000,
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin });
    const page = await context.newPage();
    page.setDefaultTimeout(Math.min(15, opts.timeout) * 1000);
    watch(page, "js");

    let total = 0;
    let jsFiltered = null;

    await check("list_loads", async () => {
      const response = await page.goto(listUrl, { waitUntil: "load" });
      expect(response, "no response for /");
      expect(response.status() === 200, `GET / answered ${response.status()}`);
      expect(await page.$("table#entries"), "no table#entries");
      const all = await rows(page);
      total = all.length;
      expect(total > 0, "table#entries has no tr.entry rows");
      const shown = visibleIds(all).length;
      expect(shown === total, `${shown} of ${total} rows visible before any filter`);
      const count = await text(page, "#count");
      expect(count === `${total} of ${total} shown`, `#count says "${count}", expected "${total} of ${total} shown"`);
      const js = await page.evaluate(() => document.body.classList.contains("js"));
      expect(js, "app.js did not run (body lacks the class `js`)");
      await shot(page, "list");
      return `${total} rows, #count "${count}"`;
    });

    await check("search_narrows", async () => {
      expect(total > 0, "the list did not load");
      await page.goto(listUrl, { waitUntil: "load" });
      await page.locator("#q").pressSequentially(word);
      const all = await rows(page);
      const shown = all.filter((r) => r.visible);
      expect(shown.length >= 1, `searching "${word}" shows no row`);
      expect(shown.length < total, `searching "${word}" shows all ${total} rows (pick a word that matches fewer)`);
      const wrong = shown.filter((r) => !matches(r)).map((r) => r.id);
      expect(!wrong.length, `visible rows whose data-text lacks "${word}": ${wrong.join(", ")}`);
      const missing = all.filter((r) => !r.visible && matches(r)).map((r) => r.id);
      expect(!missing.length, `rows matching "${word}" but hidden: ${missing.join(", ")}`);
      const count = await text(page, "#count");
      expect(count === `${shown.length} of ${total} shown`, `#count says "${count}", expected "${shown.length} of ${total} shown"`);
      const q = new URL(page.url()).searchParams.get("q");
      expect(q === word, `URL is ${page.url()}, expected ?q=${word}`);
      expect(!(await page.locator("#none").isVisible()), "#none is visible while rows are shown");
      jsFiltered = visibleIds(all);
      await shot(page, "list-filtered");
      return `${shown.length} of ${total} rows for "${word}" (${jsFiltered.join(", ")}), URL ${new URL(page.url()).search}`;
    });

    await check("search_nothing_and_clear", async () => {
      expect(total > 0, "the list did not load");
      await page.goto(listUrl, { waitUntil: "load" });
      const nonsense = `zqxjvw${Date.now().toString(36)}`;
      await page.locator("#q").fill(nonsense);
      let shown = visibleIds(await rows(page)).length;
      expect(shown === 0, `searching "${nonsense}" still shows ${shown} rows`);
      expect(await page.locator("#none").isVisible(), "#none is not visible when no row matches");
      let count = await text(page, "#count");
      expect(count === `0 of ${total} shown`, `#count says "${count}", expected "0 of ${total} shown"`);
      await page.locator("#q").fill("");
      shown = visibleIds(await rows(page)).length;
      expect(shown === total, `after clearing, ${shown} of ${total} rows are visible`);
      expect(!(await page.locator("#none").isVisible()), "#none is still visible after clearing");
      count = await text(page, "#count");
      expect(count === `${total} of ${total} shown`, `after clearing #count says "${count}"`);
      const search = new URL(page.url()).search;
      expect(search === "", `after clearing the URL still has ${search}`);
      return `0 rows and #none for "${nonsense}"; all ${total} back after clearing`;
    });

    await check("domain_filter", async () => {
      expect(total > 0, "the list did not load");
      await page.goto(listUrl, { waitUntil: "load" });
      const values = await page.$$eval("#domain option", (os) => os.map((o) => o.value));
      const domain = values.find((v) => v !== "");
      expect(domain !== undefined, "#domain has no non-empty option");
      await page.locator("#domain").selectOption(domain);
      const all = await rows(page);
      const shown = all.filter((r) => r.visible);
      const wrong = shown.filter((r) => r.domain !== domain).map((r) => r.id);
      expect(!wrong.length, `rows of another domain still visible: ${wrong.join(", ")}`);
      const missing = all.filter((r) => !r.visible && r.domain === domain).map((r) => r.id);
      expect(!missing.length, `rows of domain ${domain} hidden: ${missing.join(", ")}`);
      expect(shown.length >= 1, `domain ${domain} shows no row`);
      const count = await text(page, "#count");
      expect(count === `${shown.length} of ${total} shown`, `#count says "${count}"`);
      const d = new URL(page.url()).searchParams.get("domain");
      expect(d === domain, `URL is ${page.url()}, expected ?domain=${domain}`);
      return `domain "${domain}": ${shown.length} of ${total} rows`;
    });

    await check("no_js_filtered", async () => {
      const plain = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 800 } });
      try {
        const p = await plain.newPage();
        p.setDefaultTimeout(Math.min(15, opts.timeout) * 1000);
        watch(p, "no-js");
        const response = await p.goto(`${origin}/?q=${encodeURIComponent(word)}`, { waitUntil: "load" });
        expect(response && response.status() === 200, `GET /?q= answered ${response?.status()}`);
        const all = await rows(p);
        const n = all.length;
        expect(n > 0, "no tr.entry rows without JavaScript");
        const bad = all.filter((r) => r.hiddenAttr === r.visible).map((r) => r.id);
        expect(!bad.length, `rows whose \`hidden\` attribute disagrees with their visibility: ${bad.join(", ")}`);
        const shown = all.filter((r) => r.visible);
        const wrong = shown.filter((r) => !matches(r)).map((r) => r.id);
        expect(!wrong.length, `server shows rows not matching "${word}": ${wrong.join(", ")}`);
        const missing = all.filter((r) => !r.visible && matches(r)).map((r) => r.id);
        expect(!missing.length, `server hides rows matching "${word}": ${missing.join(", ")}`);
        expect(shown.length >= 1 && shown.length < n, `server shows ${shown.length} of ${n} rows for "${word}"`);
        const count = await text(p, "#count");
        expect(count === `${shown.length} of ${n} shown`, `#count says "${count}"`);
        const q = await p.$eval("#q", (el) => el.value);
        expect(q === word, `#q holds "${q}", expected "${word}"`);
        expect(await p.locator("#filters button[type=submit]").isVisible(), "the Filter button is not visible without JavaScript");
        if (jsFiltered) {
          const ids = visibleIds(all).join(", ");
          expect(ids === jsFiltered.join(", "), `server shows [${ids}], the script showed [${jsFiltered.join(", ")}]`);
        }
        await shot(p, "list-nojs");
        return `${shown.length} of ${n} rows rendered for ?q=${word}, the rest carry \`hidden\``;
      } finally {
        await plain.close();
      }
    });

    await check("entry_page", async () => {
      await page.goto(listUrl, { waitUntil: "load" });
      const all = await rows(page);
      const index = all.findIndex((r) => r.id === opts.entry);
      expect(index >= 0, `no row with data-id "${opts.entry}" in the list`);
      const link = page.locator("#entries tr.entry").nth(index).locator("a").first();
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.request().isNavigationRequest() && r.frame() === page.mainFrame()),
        link.click(),
      ]);
      await page.waitForLoadState("load");
      expect(response.status() === 200, `${response.url()} answered ${response.status()}`);
      const pathname = decodeURIComponent(new URL(page.url()).pathname);
      expect(pathname === `/entry/${opts.entry}`, `the link led to ${page.url()}`);
      const id = await text(page, "#entry-id");
      expect(id === opts.entry, `#entry-id says "${id}"`);
      const command = await page.$eval("#get-command", (el) => el.textContent);
      expect(command === `trove get ${opts.entry}`, `#get-command says "${command}"`);
      const python = await page.$eval("#python-snippet", (el) => el.textContent);
      expect(python.includes(`trove.get("${opts.entry}")`), `#python-snippet says "${python}"`);
      await shot(page, "entry");
      return `${new URL(page.url()).pathname}: "${command}"`;
    });

    await check("copy_command", async () => {
      const button = page.locator('button[data-copy="get-command"]');
      expect(await button.count(), "no Copy button for #get-command (is this the entry page?)");
      await button.click();
      await page.waitForFunction(
        () => document.querySelector('button[data-copy="get-command"]').textContent === "Copied",
      );
      const copied = await page.evaluate(() => navigator.clipboard.readText());
      expect(copied === `trove get ${opts.entry}`, `the clipboard holds "${copied}"`);
      return `Copy put "${copied}" on the clipboard`;
    });

    await check("same_origin_only", async () => {
      const foreign = requests.filter((u) => {
        if (u === "about:blank") return false;
        try {
          return new URL(u).origin !== origin;
        } catch {
          return true;
        }
      });
      expect(!foreign.length, `requests outside ${origin}: ${[...new Set(foreign)].join(", ")}`);
      expect(requests.length > 0, "no request was recorded");
      const paths = [...new Set(requests.map((u) => new URL(u).pathname))];
      return `${requests.length} requests, all to ${origin} (${paths.join(" ")})`;
    });

    await check("no_console_errors", async () => {
      expect(!problems.length, problems.join("; "));
      return "no console errors, page errors or failed requests";
    });

    await context.close();
  } finally {
    await browser.close().catch(() => {});
  }
}
