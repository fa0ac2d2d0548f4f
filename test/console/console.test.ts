/**
 * The auditors' web console in a real browser (Debian's Chromium, headless, driven by playwright-core)
 * against a real gateway: sign in with a token, search, open a trail, verify the inclusion proof in
 * the browser (and see it fail when the server's answer is tampered with), export, sign out; the
 * main path by keyboard alone; axe-core finds no serious or critical WCAG 2.1 AA violation; a
 * screenshot goes to test-artifacts/console.png.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyExportStream } from '../../gateway/audit/verify-export.ts';
import { REPO_ROOT } from '../../gateway/config/load.ts';
import type { AuditEntry, InclusionProof } from '../../gateway/ports/audit-store.ts';
import { type AuditScenario, startAuditScenario } from '../e2e/audit-scenario.ts';
import { eventually } from '../support/gateway.ts';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

interface AxeResult {
  violations: { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }[];
}

let s: AuditScenario;
let browser: Browser;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  [s, browser] = await Promise.all([
    startAuditScenario(),
    chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS }),
  ]);
  // The gateway's certificate chains to its own test CA, which this browser profile does not know.
  // bypassCSP lets axe-core be injected here; the keyboard and Saxon tests run under the real CSP.
  context = await browser.newContext({
    ignoreHTTPSErrors: true,
    bypassCSP: true,
    acceptDownloads: true,
    locale: 'de-DE',
    timezoneId: 'Europe/Berlin',
    viewport: { width: 1280, height: 900 },
  });
  page = await context.newPage();
  // Let proofs settle under a checkpoint before the browser asks for them.
  await eventually(
    async () => {
      const r = await s.person.get<{ proofs: { proof: unknown }[] }>(
        `/v1/audit/messages/${s.ids.snToSt[0]}/proof`,
        s.tokens.all,
      );
      return r.body.proofs.every((p) => p.proof !== null) ? true : undefined;
    },
    10_000,
    'a checkpoint over the trail',
  );
}, 150_000);

afterAll(async () => {
  await browser?.close();
  await s?.stop();
});

async function axe(target: Page): Promise<AxeResult['violations']> {
  await target.addScriptTag({ path: AXE });
  const result = (await target.evaluate(() =>
    // biome-ignore lint/suspicious/noExplicitAny: axe is injected into the page
    (globalThis as any).axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
    }),
  )) as AxeResult;
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

const describeViolations = (violations: AxeResult['violations']) =>
  violations
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)
    .join('\n');

async function signIn(target: Page, token: string) {
  await target.goto(`${s.t.gateway.url}/console`);
  await target.getByLabel('Zugangstoken').fill(token);
  await target.getByRole('button', { name: 'Anmelden' }).click();
  await target.getByRole('heading', { level: 1, name: 'Nachrichtenprotokoll prüfen' }).waitFor();
}

describe('the web console', () => {
  it('is served with a strict content security policy and no inline code', async () => {
    const response = await page.goto(`${s.t.gateway.url}/console`);
    expect(response!.status()).toBe(200);
    const headers = response!.headers();
    expect(headers['content-security-policy']).toContain("script-src 'self'");
    expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(headers['x-content-type-options']).toBe('nosniff');
    expect(await page.locator('script:not([src]), [style], [onclick], [onload]').count()).toBe(0);
    expect(await page.locator('html').getAttribute('lang')).toBe('de');
    expect(await page.title()).toBe('Prüfkonsole – Länder-Gateway');
  });

  it('refuses an unknown token and signs in with an auditor token kept in sessionStorage only', async () => {
    await page.goto(`${s.t.gateway.url}/console`);
    await page
      .getByLabel('Zugangstoken')
      .fill('gwt_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    await page.getByRole('button', { name: 'Anmelden' }).click();
    await expect
      .poll(() => page.getByRole('alert').textContent())
      .toContain('Das Token ist unbekannt, abgelaufen oder gesperrt');
    expect(await page.getByLabel('Zugangstoken').getAttribute('aria-invalid')).toBe('true');

    await signIn(page, s.tokens.all);
    expect(await page.getByRole('alert').isHidden()).toBe(true);
    expect(await page.locator('#session-info').textContent()).toContain('Datenschutzaufsicht');
    expect(await page.locator('#session-info').textContent()).toContain('alle Länder und Systeme');
    const storage = await page.evaluate(() => ({
      session: sessionStorage.getItem('gw-audit-token'),
      local: localStorage.length,
      cookie: document.cookie,
    }));
    expect(storage).toEqual({ session: s.tokens.all, local: 0, cookie: '' });
    // A reload in the same tab stays signed in.
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Nachrichtenprotokoll prüfen' }).waitFor();
  });

  it('searches, opens a trail as a timeline and verifies its proof in the browser', async () => {
    await page.getByLabel('System', { exact: true }).fill('sn-melde');
    await page.getByLabel('Reihenfolge').selectOption('asc');
    await page.getByRole('button', { name: 'Suchen' }).click();
    // sn-melde's messages: the ones it sent and received, and the receipt it got for an acknowledgement.
    await expect.poll(() => page.getByRole('status').textContent()).toMatch(/^7 Nachrichten angezeigt/);
    const rows = page.locator('#results-body tr');
    expect(await rows.count()).toBe(7);
    expect(await page.locator('#results-caption').textContent()).toBe('Suchergebnisse: 7 Nachrichten');

    const id = s.ids.snToSt[0]!;
    await page.getByRole('button', { name: id }).click();
    await page.getByRole('heading', { level: 2, name: `Verlauf der Nachricht ${id}` }).waitFor();
    const events = await page.locator('#timeline li .event-kind').allTextContents();
    expect(events[0]).toBe('Empfangen');
    expect(events).toEqual(expect.arrayContaining(['Angenommen', 'Versiegelt', 'Eingereiht', 'Zugestellt']));
    expect(events.at(-1)).toBe('Quittiert');
    expect(await page.locator('#trail-summary').textContent()).toContain('quittiert');

    await page.getByRole('button', { name: 'Nachweis im Browser prüfen' }).click();
    await expect.poll(() => page.locator('#verify-result').textContent()).toContain('Nachweis gültig');
    expect(await page.locator('#verify-result').textContent()).toContain(
      `Alle ${events.length} Einträge sind in signierten Checkpoints enthalten`,
    );
    const badges = await page.locator('#timeline .proof-badge').allTextContents();
    expect(badges.every((b) => /^✓ in Checkpoint \d+$/.test(b))).toBe(true);
    expect(await page.getByRole('status').textContent()).toContain('Nachweis gültig');

    await page.screenshot({ path: path.join(ARTIFACTS, 'console.png'), fullPage: true });
  });

  it('catches a tampered server answer: the check runs in the browser, not on the server', async () => {
    const id = s.ids.snToSt[0]!;
    await page.route(`**/v1/audit/messages/${id}/proof`, async (route) => {
      const response = await route.fetch();
      const body = (await response.json()) as { proofs: { entry: AuditEntry; proof: InclusionProof }[] };
      body.proofs[1]!.entry.receiver = 'ags:16051000';
      await route.fulfill({ response, json: body });
    });
    await page.getByRole('button', { name: 'Nachweis im Browser prüfen' }).click();
    await expect.poll(() => page.locator('#verify-result').textContent()).toContain('Nachweis ungültig');
    expect(await page.locator('#verify-result').textContent()).toContain(
      'the entry does not hash to the proven hash',
    );
    expect(await page.locator('#timeline .proof-badge .bad').count()).toBe(1);
    await page.unroute(`**/v1/audit/messages/${id}/proof`);

    // With the auditor's own copy of audit.pub the proof verifies again; with a foreign key it does not.
    const pem = readFileSync(path.join(s.t.dataDir, 'pki', 'audit.pub'), 'utf8');
    await page.getByText('Eigenen Prüfschlüssel verwenden').click();
    await page.getByLabel('Öffentlicher Audit-Schlüssel (PEM, Datei audit.pub)').fill(pem);
    await page.getByRole('button', { name: 'Nachweis im Browser prüfen' }).click();
    await expect
      .poll(() => page.locator('#verify-result').textContent())
      .toContain('Geprüft mit Ihrem eigenen Schlüssel');
    expect(await page.locator('#verify-result').textContent()).toContain('Nachweis gültig');
    const foreign = (await import('node:crypto'))
      .generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ type: 'spki', format: 'pem' }) as string;
    await page.getByLabel('Öffentlicher Audit-Schlüssel (PEM, Datei audit.pub)').fill(foreign);
    await page.getByRole('button', { name: 'Nachweis im Browser prüfen' }).click();
    await expect
      .poll(() => page.locator('#verify-result').textContent())
      .toContain('the checkpoint was signed by another key');
    await page.getByLabel('Öffentlicher Audit-Schlüssel (PEM, Datei audit.pub)').fill('');
  });

  it('exports the log as a JSONL file that verifies offline', async () => {
    await page.getByRole('button', { name: 'Export erstellen' }).click();
    const link = page.locator('#export-link');
    await link.waitFor();
    expect(await page.getByRole('status').textContent()).toMatch(
      /^Export erstellt: \d+ Einträge, \d+ Checkpoints/,
    );
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    expect(download.suggestedFilename()).toMatch(/^audit-export-.*\.jsonl$/);
    const file = await download.path();
    const { createPublicKey } = await import('node:crypto');
    const verdict = await verifyExportStream(
      (async function* () {
        yield readFileSync(file);
      })(),
      { publicKey: createPublicKey(readFileSync(path.join(s.t.dataDir, 'pki', 'audit.pub'))) },
    );
    expect(verdict.failure).toBeUndefined();
    expect(verdict.ok).toBe(true);
    const exports = await s.t.gateway.auditStore.query({ kind: 'audit-export' });
    expect(exports.at(-1)!.actor).toBe(`token:${s.tokenIds.all}`);
  });

  it('has no serious or critical accessibility violations (axe-core, WCAG 2.1 AA)', async () => {
    const signedIn = await axe(page);
    expect(signedIn, describeViolations(signedIn)).toEqual([]);

    const fresh = await context.newPage();
    try {
      await fresh.goto(`${s.t.gateway.url}/console`);
      const signInPage = await axe(fresh);
      expect(signInPage, describeViolations(signInPage)).toEqual([]);
      // The error state, too.
      await fresh.getByRole('button', { name: 'Anmelden' }).click();
      await fresh.getByRole('alert').waitFor();
      const errorState = await axe(fresh);
      expect(errorState, describeViolations(errorState)).toEqual([]);
    } finally {
      await fresh.close();
    }
  });

  it('shows a Saxon auditor only messages with a Saxon system, and says that the export redacts the others', async () => {
    const other = await browser.newContext({
      ignoreHTTPSErrors: true,
      locale: 'de-DE',
      timezoneId: 'Europe/Berlin',
    });
    try {
      const saxon = await other.newPage();
      await signIn(saxon, s.tokens.sn);
      expect(await saxon.locator('#session-info').textContent()).toContain('Sachsen (land:SN)');
      await saxon.getByRole('button', { name: 'Suchen' }).click();
      await expect.poll(() => saxon.getByRole('status').textContent()).toMatch(/Nachrichten angezeigt/);
      const shown = await saxon.locator('#results-body button').allTextContents();
      expect(shown).toEqual(expect.arrayContaining([...s.ids.snToSt, ...s.ids.thToSn, s.ids.refused]));
      expect(shown).not.toContain(s.ids.thToSt);
      expect(await saxon.locator('#export-form').isVisible()).toBe(true);
      expect(await saxon.locator('#export-scoped').isVisible()).toBe(true);
      // The export holds every chain whole, the Thüringen → Sachsen-Anhalt message redacted, and verifies.
      await saxon.getByRole('button', { name: 'Export erstellen' }).click();
      const link = saxon.locator('#export-link');
      await link.waitFor();
      expect(await saxon.getByRole('status').textContent()).toMatch(
        /^Export erstellt: \d+ Einträge, davon [1-9]\d* geschwärzt, \d+ Checkpoints/,
      );
      const [download] = await Promise.all([saxon.waitForEvent('download'), link.click()]);
      const exported = readFileSync((await download.path())!);
      expect(exported.toString('utf8')).not.toContain(s.ids.thToSt);
      const { createPublicKey } = await import('node:crypto');
      const verdict = await verifyExportStream(
        (async function* () {
          yield exported;
        })(),
        { publicKey: createPublicKey(readFileSync(path.join(s.t.dataDir, 'pki', 'audit.pub'))) },
      );
      expect(verdict.failure).toBeUndefined();
      expect(verdict.ok).toBe(true);

      await saxon.getByRole('button', { name: 'Abmelden' }).click();
      await saxon.getByRole('heading', { level: 1, name: 'Anmelden' }).waitFor();
      expect(await saxon.evaluate(() => sessionStorage.length)).toBe(0);
    } finally {
      await other.close();
    }
  });
});

describe('the web console by keyboard alone', () => {
  const focused = (target: Page) =>
    target.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      const style = el ? getComputedStyle(el) : null;
      return {
        id: el?.id ?? '',
        tag: el?.tagName.toLowerCase() ?? '',
        text: (el?.textContent ?? '').trim(),
        outline: style ? `${style.outlineStyle} ${style.outlineWidth}` : '',
      };
    });

  /** Tabs forward until `match` has focus; fails after `max` steps. */
  async function tabTo(target: Page, match: (f: Awaited<ReturnType<typeof focused>>) => boolean, max = 30) {
    for (let i = 0; i < max; i++) {
      await target.keyboard.press('Tab');
      const f = await focused(target);
      if (match(f)) return f;
    }
    throw new Error(`no focus match within ${max} tabs; last: ${JSON.stringify(await focused(target))}`);
  }

  it('signs in, searches, opens a trail and verifies it, with visible focus at every step', async () => {
    const keyboardContext = await browser.newContext({
      ignoreHTTPSErrors: true,
      locale: 'de-DE',
      timezoneId: 'Europe/Berlin',
    });
    try {
      const kb = await keyboardContext.newPage();
      // This context keeps the console's CSP: nothing it does may be blocked by it, nothing may throw.
      const problems: string[] = [];
      kb.on('pageerror', (error) => problems.push(error.message));
      kb.on('console', (message) => {
        if (/Content Security Policy/i.test(message.text())) problems.push(message.text());
      });
      await kb.goto(`${s.t.gateway.url}/console`);

      // First stop: the skip link, which jumps past the header into the content.
      await kb.keyboard.press('Tab');
      const skip = await focused(kb);
      expect(skip.text).toBe('Zum Inhalt springen');
      expect(skip.outline).toBe('solid 3px');
      await kb.keyboard.press('Enter');
      expect((await focused(kb)).id).toBe('main');

      const token = await tabTo(kb, (f) => f.id === 'token');
      expect(token.outline).toBe('solid 3px');
      await kb.keyboard.type(s.tokens.all);
      await kb.keyboard.press('Enter');
      await expect.poll(async () => (await focused(kb)).id).toBe('app-heading');

      // The first field of the search, a message id, Enter submits.
      const first = await tabTo(kb, (f) => f.tag === 'input' || f.tag === 'select');
      expect(first.id).toBe('f-messageId');
      await kb.keyboard.type(s.ids.snToSt[1]!);
      await kb.keyboard.press('Enter');
      await expect.poll(() => kb.getByRole('status').textContent()).toBe('1 Nachricht angezeigt.');

      const result = await tabTo(kb, (f) => f.text === s.ids.snToSt[1]);
      expect(result.tag).toBe('button');
      expect(result.outline).toBe('solid 3px');
      await kb.keyboard.press('Enter');
      await expect.poll(async () => (await focused(kb)).id).toBe('trail-heading');

      const verify = await tabTo(kb, (f) => f.id === 'verify');
      expect(verify.outline).toBe('solid 3px');
      await kb.keyboard.press('Enter');
      await expect.poll(() => kb.locator('#verify-result').textContent()).toContain('Nachweis gültig');

      const signOut = await tabTo(kb, (f) => f.id === 'sign-out', 60);
      expect(signOut.text).toBe('Abmelden');
      await kb.keyboard.press('Enter');
      await expect.poll(async () => (await focused(kb)).id).toBe('sign-in-heading');
      expect(problems).toEqual([]);
    } finally {
      await keyboardContext.close();
    }
  });
});

mkdirSync(ARTIFACTS, { recursive: true });
