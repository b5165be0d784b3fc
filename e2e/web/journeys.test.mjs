// The web front's journeys in a real browser: Debian's Chromium driven by playwright-core,
// against `passerelle up` started as its own process on the embedded engines. Every page a
// journey opens is checked with axe-core (no serious or critical violation), must carry the
// Content-Security-Policy header and raise no CSP violation, and is photographed into
// screenshots/ for review. Then: one journey with the keyboard alone, every page at 320 px
// and at 200 % zoom without sideways scrolling, and the security rules a browser can break.
//
// usage: node --test e2e/web/journeys.test.mjs   (scripts/test.sh runs it)
//   PASSERELLE_BIN  the binary (default: target/debug/passerelle)
//   CHROMIUM        the browser (default: /usr/bin/chromium)

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const shots = join(here, "screenshots");

const ADMIN_PASSWORD = "a long admin passphrase for the browser";
const IDLE_SECONDS = 45;
const PIN = "482913";
const NEW_PIN = "571638";
const RECOVERED_PIN = "639247";

let platform; // the `passerelle up` process and its address
let web; // the gateway's http:// address
let browser;
const problems = { axe: [], csp: [], overflow: [] };
let axeRuns = 0;
const minor = new Map(); // moderate and minor findings, printed for the record
const pagesSeen = new Map(); // role -> set of paths, visited again at 320 px and 200 %
// What the journeys share: made by one, used by the next.
const state = {};

// ---- the platform and the browser --------------------------------------------------------

/// `passerelle up` on a fresh data directory, resolved once it prints its addresses.
function startPlatform(extraArgs = [], extraEnv = {}) {
  const bin = process.env.PASSERELLE_BIN ?? join(root, "target/debug/passerelle");
  const dir = mkdtempSync(join(tmpdir(), "passerelle-web-"));
  const child = spawn(bin, ["up", "--listen", "127.0.0.1:0", "--data-dir", dir, ...extraArgs], {
    env: {
      ...process.env,
      PASSERELLE_BOOTSTRAP_ADMIN_PASSWORD: ADMIN_PASSWORD,
      PASSERELLE_SESSION_IDLE: `${IDLE_SECONDS}s`,
      // Cheap hashing: the journeys sign in a dozen times.
      PASSERELLE_ARGON2_MEMORY_KIB: "8192",
      PASSERELLE_ARGON2_PASSES: "1",
      RUST_LOG: process.env.RUST_LOG ?? "warn",
      ...extraEnv,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  let address;
  child.stderr.on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-20000);
  });
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`passerelle up did not start in 120 s\n${stderr}`)), 120_000);
    child.on("exit", (code) => fail(new Error(`passerelle up stopped (${code})\n${stderr}`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      const gateway = line.match(/^\s+gateway\s+(http:\/\/\S+)/);
      if (gateway) address = gateway[1];
      if (line.startsWith("Press Ctrl-C")) {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        if (!address) fail(new Error("passerelle up printed no gateway address"));
        else ok({ child, web: address, dir, stderr: () => stderr });
      }
    });
  });
}

async function stopPlatform(running) {
  if (!running) return;
  running.child.kill("SIGTERM");
  await new Promise((ok) => {
    if (running.child.exitCode !== null) return ok();
    const timer = setTimeout(() => {
      running.child.kill("SIGKILL");
      ok();
    }, 10_000);
    running.child.on("exit", () => {
      clearTimeout(timer);
      ok();
    });
  });
  rmSync(running.dir, { recursive: true, force: true });
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  platform = await startPlatform();
  web = platform.web;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
});

after(async () => {
  await browser?.close();
  await stopPlatform(platform);
});

/// A browser window for one person, watching every response of the platform.
async function windowFor(role, options = {}, origin = web) {
  const context = await browser.newContext({
    locale: "fr-FR",
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
    ...options,
  });
  const page = await context.newPage();
  page.on("response", (response) => {
    if (!response.url().startsWith(origin)) return;
    const csp = response.headers()["content-security-policy"];
    if (!csp || !csp.includes("default-src 'none'") || csp.includes("unsafe-inline")) {
      problems.csp.push(`${response.url()}: ${csp ?? "no Content-Security-Policy"}`);
    }
  });
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) {
      problems.csp.push(`${page.url()}: ${message.text()}`);
    }
  });
  page.on("pageerror", (error) => problems.csp.push(`${page.url()}: script error ${error.message}`));
  page.role = role;
  return { context, page };
}

/// Every page a journey shows: axe-core, a screenshot, no sideways scrolling, and its path
/// remembered for the narrow-screen pass.
async function look(page, name) {
  await page.waitForLoadState("load");
  const path = new URL(page.url()).pathname + new URL(page.url()).search;
  if (!pagesSeen.has(page.role)) pagesSeen.set(page.role, new Map());
  pagesSeen.get(page.role).set(path, name);
  await axe(page, name);
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  await noSidewaysScroll(page, name);
}

async function axe(page, name) {
  // Through the DevTools protocol, which the page's CSP does not apply to: the page itself
  // never runs inline script.
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
    }),
  );
  // axe really looked: a page it checks passes dozens of rules.
  assert.ok(result.passes.length > 10, `axe-core checked nothing on ${name}`);
  axeRuns += 1;
  for (const v of result.violations) {
    if (v.impact !== "serious" && v.impact !== "critical") {
      minor.set(v.id, `${v.impact}: ${v.help}`);
    }
    if (v.impact === "serious" || v.impact === "critical") {
      problems.axe.push(
        `${name} (${page.url()}): ${v.id} [${v.impact}] ${v.help}: ${v.nodes
          .slice(0, 3)
          .map((n) => n.target.join(" "))
          .join(", ")}`,
      );
    }
  }
}

async function noSidewaysScroll(page, name) {
  const { scroll, width } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    width: document.documentElement.clientWidth,
  }));
  if (scroll > width + 1) {
    problems.overflow.push(`${name} at ${width} px: the page is ${scroll} px wide`);
  }
}

async function fill(page, fields) {
  for (const [selector, value] of Object.entries(fields)) {
    await page.fill(selector, value);
  }
}

async function submit(page, text) {
  await Promise.all([
    page.waitForNavigation(),
    page.getByRole("button", { name: text, exact: false }).first().click(),
  ]);
}

async function signIn(page, username, secret, { pin = false } = {}) {
  await page.goto(`${web}/connexion${pin ? "/code" : ""}`);
  await page.fill("#username", username);
  if (pin) {
    // The PIN pad's large keys, as a person who reads little would.
    for (const digit of secret) {
      await page.locator(`.pinpad button[data-digit="${digit}"]`).click();
    }
    assert.equal(await page.inputValue("#secret"), secret);
  } else {
    await page.fill("#secret", secret);
  }
  await submit(page, "Entrer");
}

async function finish(page) {
  await submit(page, "Je termine");
  await page.getByText("Vous êtes déconnecté").waitFor();
}

function text(page) {
  return page.locator("main").innerText();
}

// ---- the journeys ------------------------------------------------------------------------

test("the first admin signs in and opens accounts for two agents of a CCAS and one elsewhere", async () => {
  const { context, page } = await windowFor("admin");
  await page.goto(web);
  assert.match(page.url(), /\/connexion/);
  await look(page, "01-sign-in");
  await signIn(page, "admin", ADMIN_PASSWORD);
  await page.goto(`${web}/comptes`);
  await look(page, "02-staff-accounts");
  for (const [username, structure, given] of [
    ["agent-nord", "ccas-nord", "Inès"],
    ["agent-nord-2", "ccas-nord", "Paul"],
    ["agent-sud", "ccas-sud", "Léa"],
  ]) {
    await page.selectOption("#role", "agent");
    // The registry's structures, by name (up starts with the example city's).
    await page.selectOption("#structure", structure);
    await fill(page, {
      "#given_name": given,
      "#family_name": "Agent",
      "#username": username,
      "#password": `${username} passphrase`,
    });
    await submit(page, "Créer le compte");
    assert.match(await text(page), new RegExp(`Le compte ${username} est créé`));
  }
  // The registry of structures: a new one, named as people will read it.
  await page.getByRole("link", { name: "Structures" }).click();
  await look(page, "02b-structures");
  await fill(page, { "#name": "PIMMS Amiens Métropole", "#id": "pimms-amiens" });
  await page.selectOption("#kind", "association");
  await submit(page, "Enregistrer la structure");
  assert.match(await text(page), /La structure « PIMMS Amiens Métropole » est enregistrée/);
  await look(page, "02c-structure-saved");
  await finish(page);
  await context.close();
});

test("an agent creates a person without e-mail, prints the recovery sheet, records a mandate signed on screen, files papers and makes a share code", async () => {
  const { context, page } = await windowFor("agent");
  await signIn(page, "agent-nord", "agent-nord passphrase");
  assert.match(page.url(), /\/personnes$/);
  await look(page, "03-agent-desk");

  // A new person: no e-mail, a date of birth as people write it, a PIN.
  await page.getByRole("link", { name: "Nouvelle personne" }).click();
  await look(page, "04-new-person");
  // First a wrong date: the page says what is accepted and keeps what was typed.
  await fill(page, {
    "#given_name": "Aminata",
    "#family_name": "N'Diaye",
    "#birth_date": "31/02/1958",
    "#phone": "06 12 34 56 78",
    "#username": "aminata.ndiaye",
    "#pin": PIN,
  });
  await submit(page, "Créer le compte");
  assert.equal(await page.inputValue("#given_name"), "Aminata");
  await page.locator("#problem").waitFor();
  await look(page, "04b-new-person-bad-date");
  await fill(page, { "#birth_date": "14/03/1958", "#pin": PIN });
  await submit(page, "Créer le compte");
  await page.getByText("Code de secours").waitFor();
  state.sheetCode = (await page.locator(".code").last().innerText()).trim();
  assert.match(state.sheetCode, /\S{6,}/);
  await look(page, "05-recovery-sheet");
  // The sheet as a PDF to print.
  const [pdf] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: /Télécharger la feuille/ }).click(),
  ]);
  const bytes = readFileSync(await pdf.path());
  assert.equal(bytes.subarray(0, 5).toString(), "%PDF-");
  await page.getByRole("link", { name: "Continuer avec cette personne" }).click();
  state.personPath = new URL(page.url()).pathname;
  assert.match(state.personPath, /^\/personnes\/[0-9a-f-]{36}$/);
  await look(page, "06-person");
  // Papers need a mandate first, and the page says so.
  assert.match(await text(page), /accord/i);

  // The mandate: scopes and duration, the plain-French summary, then the person signs on
  // the screen and types their own code.
  await page.getByRole("link", { name: /accord/i }).first().click();
  await look(page, "07-mandate-choose");
  await page.check("input[name=documents]");
  await page.check("input[name=procedures]");
  await page.check("input[value=an]");
  await submit(page, "La personne est ici");
  await page.locator("#summary").waitFor();
  const summary = await page.locator("section.card").innerText();
  assert.match(summary, /CCAS d'Amiens, antenne Nord/);
  const pad = page.locator("canvas.pad");
  await pad.waitFor({ state: "visible" });
  const box = await pad.boundingBox();
  await page.mouse.move(box.x + 30, box.y + box.height * 0.7);
  await page.mouse.down();
  for (let i = 1; i <= 20; i++) {
    await page.mouse.move(box.x + 30 + i * 15, box.y + box.height * (0.7 - 0.4 * Math.sin(i / 3)));
  }
  await page.mouse.up();
  assert.match(await page.inputValue("input[name=signature]"), /^data:image\/png;base64,/);
  await page.fill("#secret", PIN);
  await look(page, "08-mandate-summary");
  await submit(page, "Confirmer l'accord");
  assert.equal(new URL(page.url()).pathname, state.personPath);
  assert.match(await text(page), /Renouveler|Arrêter|Retirer/);
  await look(page, "09-person-with-mandate");

  // Papers: a wrong kind of file first, then two papers at once, with the progress bar.
  await page.getByRole("link", { name: "Ajouter des documents" }).click();
  await look(page, "10-upload");
  await page.setInputFiles("#files", [
    { name: "programme.exe", mimeType: "application/x-msdownload", buffer: Buffer.from("MZ\x90\x00 not a paper") },
  ]);
  // With script, the refusal shows on the same page, the files still chosen.
  await page.getByRole("button", { name: "Enregistrer" }).click();
  await page.locator("#problem").waitFor();
  assert.match(await page.locator("#problem").innerText(), /Acceptés : PDF/);
  const png = await page.screenshot({ clip: { x: 0, y: 0, width: 40, height: 40 } });
  await page.setInputFiles("#files", [
    { name: "attestation-caf.pdf", mimeType: "application/pdf", buffer: Buffer.from("%PDF-1.7\n% une attestation\n%%EOF\n") },
    { name: "photo-attestation.png", mimeType: "image/png", buffer: png },
  ]);
  await page.selectOption("#type", { label: "Attestation CAF" }).catch(() => page.selectOption("#type", { index: 1 }));
  await page.fill("#expires", "2020-01-31");
  await Promise.all([page.waitForURL((url) => url.pathname === state.personPath), page.click("button[type=submit].button-main")]);
  const tiles = page.locator("ul.tiles > li");
  assert.equal(await tiles.count(), 2);
  await look(page, "11-person-papers");

  // A paper to download, then a share code to print.
  const [file] = await Promise.all([page.waitForEvent("download"), tiles.first().getByRole("link", { name: /Télécharger/ }).click()]);
  assert.ok(readFileSync(await file.path()).length > 0);
  await submit(page, "Créer un code");
  state.shareCode = (await page.locator(".code").innerText()).trim();
  assert.ok(state.shareCode.length >= 6);
  assert.equal(await page.locator(".qr svg").count(), 1);
  await look(page, "12-share-code");

  // The checklist of a procedure: what is there, what is missing or out of date.
  await page.goto(`${web}${state.personPath}`);
  await submit(page, "Voir ce qu'il faut");
  await look(page, "13-checklist");

  // Finding her again: by name without the apostrophe, and by date of birth.
  await page.goto(`${web}/personnes?q=ndiaye`);
  await look(page, "14-search");
  assert.match(await text(page), /Aminata/);
  await page.goto(`${web}/personnes?q=&naissance=14%2F03%2F1958`);
  await page.getByRole("link", { name: /Aminata/ }).click();
  assert.equal(new URL(page.url()).pathname, state.personPath);
  state.agentCookies = await context.cookies();
  await finish(page);
  await context.close();
});

test("the person signs in with the PIN pad, sees her papers and who helps her, changes her code, and signs out for good", async () => {
  const { context, page } = await windowFor("person");
  // A page asked before signing in comes back after it.
  await page.goto(`${web}/qui-m-aide`);
  assert.match(page.url(), /\/connexion\?suite=/);
  await page.getByRole("link", { name: /code à 6 chiffres/ }).click();
  await look(page, "20-sign-in-pin");
  await page.fill("#username", "aminata.ndiaye");
  for (const digit of PIN) await page.locator(`.pinpad button[data-digit="${digit}"]`).click();
  await submit(page, "Entrer");
  assert.equal(new URL(page.url()).pathname, "/qui-m-aide");
  const helpers = await text(page);
  assert.match(helpers, /CCAS d'Amiens, antenne Nord/);
  assert.match(helpers, /Ce qui a été fait pour moi/);
  await look(page, "21-who-helps-me");

  await page.getByRole("link", { name: "Mes papiers" }).click();
  await look(page, "22-my-papers");
  const papers = await text(page);
  assert.match(papers, /Périmé depuis le 31 janvier 2020/);
  await page.locator("ul.tiles > li a").first().click();
  await look(page, "23-one-paper");

  // English on request, and back.
  await page.getByRole("link", { name: "English" }).click();
  assert.equal(await page.getAttribute("html", "lang"), "en");
  await look(page, "24-one-paper-english");
  await page.getByRole("link", { name: "Français" }).click();
  assert.equal(await page.getAttribute("html", "lang"), "fr");

  await page.getByRole("link", { name: "Mon code" }).click();
  await look(page, "25-my-code");
  await fill(page, { "#current": PIN, "#new": NEW_PIN, "#again": NEW_PIN });
  await submit(page, "Changer mon code");
  assert.match(await text(page), /Votre code est changé/);

  // "Je termine": signed out, and the old cookie opens nothing.
  const before = await context.cookies();
  await finish(page);
  await look(page, "26-signed-out");
  const replay = await browser.newContext();
  await replay.addCookies(before.filter((c) => c.name === "passerelle_session"));
  const again = await replay.newPage();
  await again.goto(`${web}/mes-papiers`);
  assert.match(again.url(), /\/connexion/, "a signed-out session still opens pages");
  await replay.close();
  // Back does not bring her pages again: they were sent with no-store.
  await page.goBack().catch(() => {});
  await page.waitForLoadState("load");
  await page.waitForTimeout(500);
  await page.waitForLoadState("load");
  assert.doesNotMatch(await page.content(), /Mon code actuel|Aminata|Attestation/);
  await page.goto(`${web}/mes-papiers`);
  assert.match(page.url(), /\/connexion/);
  await context.close();
});

test("someone without an account opens the shared paper with its code", async () => {
  const { context, page } = await windowFor("anonymous");
  await page.goto(`${web}/partage`);
  await look(page, "30-share-open");
  await page.fill("#code", "WRONG-CODE");
  await submit(page, "Voir le document");
  assert.equal(await page.locator("[role=alert]").count(), 1);
  await page.fill("#code", state.shareCode);
  await submit(page, "Voir le document");
  await look(page, "31-share-opened");
  const [file] = await Promise.all([page.waitForEvent("download"), page.locator("ul.tiles button").first().click()]);
  assert.ok(readFileSync(await file.path()).length > 0);
  await context.close();
});

test("desk recovery: one agent starts it with the sheet, a second agent approves it, the person is back in", async () => {
  const first = await windowFor("agent");
  await signIn(first.page, "agent-nord", "agent-nord passphrase");
  await first.page.goto(`${web}${state.personPath}`);
  await first.page.getByRole("link", { name: "La personne a perdu son code" }).click();
  await look(first.page, "40-recovery-start");
  await first.page.fill("#sheet_code", state.sheetCode);
  await submit(first.page, "Demander la récupération");
  const recovery = (await first.page.locator(".code").innerText()).trim();
  await look(first.page, "41-recovery-started");
  await finish(first.page);
  await first.context.close();

  // The same agent cannot approve their own request: a second one does.
  const second = await windowFor("agent");
  await signIn(second.page, "agent-nord-2", "agent-nord-2 passphrase");
  await second.page.getByRole("link", { name: /Récupération/ }).click();
  await look(second.page, "42-recovery-approve");
  await fill(second.page, { "#recovery_id": recovery, "#pin": RECOVERED_PIN });
  await submit(second.page, "Confirmer et imprimer");
  await second.page.getByText("Code de secours").waitFor();
  await finish(second.page);
  await second.context.close();

  const person = await windowFor("person");
  await signIn(person.page, "aminata.ndiaye", RECOVERED_PIN, { pin: true });
  assert.equal(new URL(person.page.url()).pathname, "/mes-papiers");
  await finish(person.page);
  await person.context.close();
});

test("with the keyboard alone: sign in with the PIN, open a paper, and finish, the focus always visible", async () => {
  const { context, page } = await windowFor("person");
  await page.goto(`${web}/connexion/code`);
  const focused = async () =>
    page.evaluate(() => {
      const el = document.activeElement;
      const style = getComputedStyle(el);
      const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
      const shadow = style.boxShadow && style.boxShadow !== "none";
      return {
        tag: el.tagName.toLowerCase(),
        id: el.id,
        name: el.getAttribute("name"),
        text: (el.innerText || el.value || "").trim().slice(0, 40),
        visible: outline || shadow,
      };
    });
  const tabTo = async (match, limit = 30) => {
    for (let i = 0; i < limit; i++) {
      await page.keyboard.press("Tab");
      const at = await focused();
      assert.notEqual(at.tag, "body", "the keyboard went through the whole page without reaching the element");
      assert.ok(at.visible, `the focus on ${at.tag}#${at.id} "${at.text}" cannot be seen`);
      if (match(at)) return at;
    }
    assert.fail("the keyboard never reached the element");
  };
  await tabTo((at) => at.id === "username");
  await page.keyboard.type("aminata.ndiaye");
  await tabTo((at) => at.id === "secret");
  await page.keyboard.type(RECOVERED_PIN);
  await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
  assert.equal(new URL(page.url()).pathname, "/mes-papiers");
  await tabTo((at) => at.tag === "a" && at.text.length > 0 && /Attestation|photo/i.test(at.text));
  await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
  assert.match(new URL(page.url()).pathname, /^\/mes-papiers\/.+/);
  await look(page, "50-keyboard-paper");
  await tabTo((at) => at.text === "Je termine");
  await Promise.all([page.waitForNavigation(), page.keyboard.press("Space")]);
  await page.getByText("Vous êtes déconnecté").waitFor();
  await context.close();
});

test("security a browser can try: forms without their token, another structure's person, shared computers", async () => {
  // An agent of another CCAS types the person's address: refused, in words.
  const sud = await windowFor("agent");
  await signIn(sud.page, "agent-sud", "agent-sud passphrase");
  const response = await sud.page.goto(`${web}${state.personPath}`);
  assert.ok([403, 404].includes(response.status()), `status ${response.status()}`);
  assert.match(await text(sud.page), /pas accès|n'existe pas/);
  assert.doesNotMatch(await sud.page.content(), /Aminata/);
  await look(sud.page, "60-other-structure");

  // A form whose token was taken out is refused, and nothing is made.
  await sud.page.goto(`${web}/personnes/nouvelle`);
  await sud.page.evaluate(() => document.querySelector("main form input[name=_csrf]").remove());
  await fill(sud.page, { "#given_name": "Sans", "#family_name": "Jeton", "#pin": "731946" });
  const [refused] = await Promise.all([
    sud.page.waitForNavigation(),
    sud.page.getByRole("button", { name: "Créer le compte" }).click(),
  ]);
  assert.equal(refused.status(), 403);
  assert.match(await text(sud.page), /Ce formulaire a expiré/);
  await sud.page.goto(`${web}/personnes?q=jeton`);
  assert.doesNotMatch(await text(sud.page), /Sans Jeton/);
  await finish(sud.page);
  await sud.context.close();

  // Left alone on a shared computer, a session shows a countdown, then ends by itself.
  const { context, page } = await windowFor("person");
  await signIn(page, "aminata.ndiaye", RECOVERED_PIN, { pin: true });
  const notice = page.locator("#idle");
  await notice.waitFor({ state: "visible", timeout: IDLE_SECONDS * 1000 });
  assert.match(await notice.innerText(), /\d:\d\d/);
  await page.screenshot({ path: join(shots, "61-idle-countdown.png") });
  await page.getByText("Vous êtes déconnecté").waitFor({ timeout: IDLE_SECONDS * 1000 });
  await page.goto(`${web}/mes-papiers`);
  assert.match(page.url(), /\/connexion/);
  await context.close();
});

test("the person withdraws her accord: the agent no longer reaches her papers, and the share code made under it stops working", async () => {
  const { context, page } = await windowFor("person");
  await signIn(page, "aminata.ndiaye", RECOVERED_PIN, { pin: true });
  await page.getByRole("link", { name: "Qui m'aide" }).click();
  await submit(page, "Retirer mon accord");
  assert.match(await text(page), /Votre accord est retiré/);
  await look(page, "80-accord-withdrawn");
  await finish(page);
  await context.close();

  const agent = await windowFor("agent");
  await signIn(agent.page, "agent-nord", "agent-nord passphrase");
  await agent.page.goto(`${web}${state.personPath}`);
  assert.match(await text(agent.page), /il faut un accord de la personne/);
  assert.equal(await agent.page.locator("ul.tiles").count(), 0);
  await finish(agent.page);
  await agent.context.close();

  const anonymous = await windowFor("anonymous");
  await anonymous.page.goto(`${web}/partage`);
  await anonymous.page.fill("#code", state.shareCode);
  await submit(anonymous.page, "Voir le document");
  assert.equal(await anonymous.page.locator("ul.tiles").count(), 0);
  assert.equal(await anonymous.page.locator("[role=alert]").count(), 1);
  await anonymous.context.close();
});

test("every page seen is usable at 320 px and at 200 % zoom, without sideways scrolling", async () => {
  const accounts = {
    admin: ["admin", ADMIN_PASSWORD],
    agent: ["agent-nord", "agent-nord passphrase"],
    person: ["aminata.ndiaye", RECOVERED_PIN],
    anonymous: null,
  };
  // The PIN pad, which the person reached from the sign-in page, on a phone too.
  pagesSeen.get("anonymous").set("/connexion/code", "20-sign-in-pin");
  // 320 px: a small phone. 640 px wide at 1280 px: a desktop zoomed to 200 %.
  for (const viewport of [
    { width: 320, height: 640 },
    { width: 640, height: 450 },
  ]) {
    for (const [role, paths] of pagesSeen) {
      if (!(role in accounts)) continue;
      const { context, page } = await windowFor(role, { viewport });
      if (accounts[role]) await signIn(page, ...accounts[role]);
      for (const [path, name] of paths) {
        // Pages that answered a form (a share code, a sign-out) have no GET of their own.
        if (/deconnexion/.test(path)) continue;
        const response = await page.goto(`${web}${path}`);
        if (response.status() === 405) continue;
        await noSidewaysScroll(page, `${name} (${role})`);
        await page.screenshot({ path: join(shots, `w${viewport.width}-${name}.png`), fullPage: true });
      }
      await context.close();
    }
  }
});

test("with Keycloak: an admin signs in through Keycloak's own login page, and signing out ends the Keycloak session too", async (t) => {
  const keycloak = process.env.PASSERELLE_TEST_KEYCLOAK;
  if (!keycloak) {
    assert.ok(!process.env.CI, "PASSERELLE_TEST_KEYCLOAK is not set: in CI the Keycloak journey must run");
    t.skip("no Keycloak (set PASSERELLE_TEST_KEYCLOAK; scripts/servers.sh start keycloak)");
    return;
  }
  const admin = `admin-web-${Date.now().toString(36)}`;
  const platform = await startPlatform(["--idp", `keycloak://${keycloak}/realms/passerelle`], {
    PASSERELLE_KEYCLOAK_CLIENT_SECRET: process.env.PASSERELLE_TEST_KEYCLOAK_SECRET,
    PASSERELLE_OIDC_CLIENT_SECRET: process.env.PASSERELLE_TEST_KEYCLOAK_GATEWAY_SECRET,
    PASSERELLE_BOOTSTRAP_ADMIN: admin,
  });
  try {
    const { context, page } = await windowFor("keycloak", {}, platform.web);
    const atKeycloak = (url) => url.href.startsWith(`http://${keycloak}/realms/passerelle/`);
    const signInThroughKeycloak = async () => {
      await page.goto(`${platform.web}/personnes`);
      assert.match(page.url(), /\/connexion/);
      await Promise.all([page.waitForURL(atKeycloak), page.locator("main a.button-main").click()]);
      await page.locator("#username").waitFor();
    };
    await signInThroughKeycloak();
    await page.screenshot({ path: join(shots, "70-keycloak-login.png"), fullPage: true });
    await page.fill("#username", admin);
    await page.fill("#password", ADMIN_PASSWORD);
    await Promise.all([page.waitForURL((url) => url.href.startsWith(platform.web)), page.click("#kc-login")]);
    // Back where the admin was going, signed in with Keycloak's token.
    assert.equal(new URL(page.url()).pathname, "/personnes");
    assert.match(await page.locator(".who").innerText(), new RegExp(admin));
    await look(page, "71-keycloak-signed-in");
    await page.goto(`${platform.web}/comptes`);
    assert.match(await text(page), /Créer le compte/);

    // "Je termine" on a shared computer: the next person who clicks "sign in" meets the
    // login form, not the admin's Keycloak session.
    await finish(page);
    await signInThroughKeycloak();
    assert.ok(atKeycloak(new URL(page.url())), `signed straight back in: ${page.url()}`);
    await context.close();
  } finally {
    await stopPlatform(platform);
  }
});

test("no page broke a rule: axe-core, the CSP, sideways scrolling", () => {
  assert.deepEqual(problems.csp, [], "responses without the CSP, or CSP violations");
  assert.deepEqual(problems.axe, [], "serious or critical accessibility violations");
  assert.deepEqual(problems.overflow, [], "pages wider than the screen");
  const seen = [...pagesSeen.values()].reduce((n, paths) => n + paths.size, 0);
  assert.ok(seen >= 20, `only ${seen} pages were checked`);
  console.log(`axe-core ran on ${axeRuns} pages (${seen} distinct); moderate or minor findings: ${minor.size ? [...minor.values()].join("; ") : "none"}`);
});
