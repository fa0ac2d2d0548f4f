/**
 * The auditors' console: sign in with a token (kept in sessionStorage only), search the message
 * log, show a message's trail as a timeline, verify its inclusion proofs here in the browser, export.
 * Every piece of data comes from the auditor API (/v1/audit/…); nothing is rendered as HTML from it
 * (textContent only). German labels, English code.
 */
import { verifyInclusionProof } from './verify-proof.js';

const TOKEN_KEY = 'gw-audit-token';

const EVENT_LABELS = {
  received: 'Empfangen',
  rejected: 'Abgewiesen',
  accepted: 'Angenommen',
  signed: 'Versiegelt',
  converted: 'Konvertiert',
  queued: 'Eingereiht',
  'delivery-attempted': 'Zustellversuch',
  delivered: 'Zugestellt',
  fetched: 'Abgeholt',
  acknowledged: 'Quittiert',
  failed: 'Fehlgeschlagen',
  'dead-lettered': 'Unzustellbar abgelegt',
  replayed: 'Erneut eingereiht',
  'certificate-issued': 'Zertifikat ausgestellt',
  'certificate-revoked': 'Zertifikat gesperrt',
  'contract-changed': 'Vertrag geändert',
  'token-issued': 'Token ausgestellt',
  'audit-export': 'Protokollauszug',
  'token-imported': 'Token übernommen',
  'token-revoked': 'Token widerrufen',
};

/** Revocations before the token-revoked kind were recorded as token-issued with action "revoked". */
function eventLabel(entry) {
  if (entry.kind === 'token-issued' && entry.detail?.action === 'revoked')
    return EVENT_LABELS['token-revoked'];
  return EVENT_LABELS[entry.kind] ?? entry.kind;
}

const STATUS_LABELS = {
  received: 'empfangen',
  accepted: 'angenommen',
  queued: 'eingereiht',
  delivered: 'zugestellt',
  acknowledged: 'quittiert',
  rejected: 'abgewiesen',
  failed: 'fehlgeschlagen',
  'dead-lettered': 'unzustellbar',
};

const LAENDER = {
  BW: 'Baden-Württemberg',
  BY: 'Bayern',
  BE: 'Berlin',
  BB: 'Brandenburg',
  HB: 'Bremen',
  HH: 'Hamburg',
  HE: 'Hessen',
  MV: 'Mecklenburg-Vorpommern',
  NI: 'Niedersachsen',
  NW: 'Nordrhein-Westfalen',
  RP: 'Rheinland-Pfalz',
  SL: 'Saarland',
  SN: 'Sachsen',
  ST: 'Sachsen-Anhalt',
  SH: 'Schleswig-Holstein',
  TH: 'Thüringen',
};

const ROLE_LABELS = { auditor: 'Prüfer/in', operator: 'Betrieb' };

const timeFormat = new Intl.DateTimeFormat('de-DE', {
  timeZone: 'Europe/Berlin',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  fractionalSecondDigits: 3,
  timeZoneName: 'short',
});

const $ = (id) => document.getElementById(id);

/** An element with attributes and children (strings become text nodes, never HTML). */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'className') node.className = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

function formatTime(iso) {
  return el('time', { datetime: iso }, timeFormat.format(new Date(iso)));
}

function announce(text) {
  $('status').textContent = text;
}

function showError(text) {
  const box = $('error');
  box.textContent = text;
  box.hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

function scopeLabel(scope) {
  if (scope === '*') return 'alle Länder und Systeme';
  if (scope.startsWith('land:')) return `${LAENDER[scope.slice(5)] ?? scope.slice(5)} (${scope})`;
  if (scope.startsWith('system:')) return `System ${scope.slice(7)}`;
  return scope;
}

class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? `HTTP ${status}`);
    this.status = status;
    this.code = problem?.code;
  }
}

const session = {
  token: sessionStorage.getItem(TOKEN_KEY),
  who: null,
};

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { authorization: `Bearer ${session.token}`, accept: 'application/json', ...options.headers },
    cache: 'no-store',
    credentials: 'omit',
  });
  if (response.ok) return response;
  let problem;
  try {
    problem = await response.json();
  } catch {
    problem = undefined;
  }
  const error = new ApiError(response.status, problem);
  if (response.status === 401 && session.who) {
    signOut(
      'Die Sitzung wurde beendet: Das Token ist abgelaufen oder gesperrt. Bitte melden Sie sich erneut an.',
    );
  }
  throw error;
}

function describeError(error) {
  if (error instanceof ApiError) return `${error.message}${error.code ? ` (${error.code})` : ''}`;
  return `Das Gateway ist nicht erreichbar: ${error instanceof Error ? error.message : String(error)}`;
}

async function busy(button, work) {
  button.setAttribute('aria-busy', 'true');
  button.disabled = true;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

/* ---------- sign in / out ---------- */

function showSignedIn() {
  const who = session.who;
  $('session-info').textContent =
    `${who.name || `Token ${who.tokenId}`} · ${ROLE_LABELS[who.role] ?? who.role} · Bereich: ${scopeLabel(who.scope)}`;
  $('session').hidden = false;
  $('sign-in-section').hidden = true;
  $('app').hidden = false;
  // Below the scope * the export redacts what the scope does not cover (audit/export-scope.ts).
  $('export-scoped').hidden = who.scope === '*';
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  session.token = null;
  session.who = null;
  $('session').hidden = true;
  $('app').hidden = true;
  $('sign-in-section').hidden = false;
  $('results-body').replaceChildren();
  $('results').hidden = true;
  $('trail-section').hidden = true;
  $('token').value = '';
  if (message) showError(message);
  announce('Abgemeldet.');
  $('sign-in-heading').focus();
}

async function signIn(token) {
  session.token = token;
  const who = await (await api('/v1/auth/whoami')).json();
  if (who.role !== 'auditor' && who.role !== 'operator') {
    throw new ApiError(403, {
      detail: 'Dieses Token gehört weder zu einer Prüferin oder einem Prüfer noch zum Betrieb.',
    });
  }
  session.who = who;
  sessionStorage.setItem(TOKEN_KEY, token);
  showSignedIn();
}

$('sign-in-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  clearError();
  const token = $('token').value.trim();
  if (!token) {
    showError('Bitte geben Sie Ihr Zugangstoken ein.');
    $('token').setAttribute('aria-invalid', 'true');
    $('token').focus();
    return;
  }
  try {
    await busy(event.submitter ?? $('sign-in-form').querySelector('button'), () => signIn(token));
    $('token').value = '';
    $('token').removeAttribute('aria-invalid');
    announce(`Angemeldet. Bereich: ${scopeLabel(session.who.scope)}.`);
    $('app-heading').focus();
  } catch (error) {
    session.token = null;
    $('token').setAttribute('aria-invalid', 'true');
    showError(
      error instanceof ApiError && error.status === 401
        ? 'Anmeldung fehlgeschlagen: Das Token ist unbekannt, abgelaufen oder gesperrt.'
        : `Anmeldung fehlgeschlagen: ${describeError(error)}`,
    );
    $('token').focus();
  }
});

$('sign-out').addEventListener('click', () => signOut());

/* ---------- search ---------- */

let nextCursor = null;
let lastQuery = null;

function localToIso(value) {
  return value ? new Date(value).toISOString() : '';
}

function searchParams() {
  const form = $('search-form');
  const params = new URLSearchParams();
  for (const name of [
    'messageId',
    'authority',
    'system',
    'sender',
    'receiver',
    'messageType',
    'status',
    'order',
  ]) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  for (const name of ['from', 'to']) {
    const value = localToIso(form.elements[name].value);
    if (value) params.set(name, value);
  }
  params.set('limit', '25');
  return params;
}

function resultRow(item) {
  const open = el(
    'button',
    { type: 'button', className: 'link mono', 'data-message-id': item.messageId },
    item.messageId,
  );
  open.addEventListener('click', () => openTrail(item.messageId));
  return el(
    'tr',
    {},
    el('td', {}, formatTime(item.firstTime)),
    el('td', {}, open),
    el('td', { className: 'mono' }, item.messageType ?? '–'),
    el(
      'td',
      {},
      el('span', { className: 'mono' }, item.sender ?? '–'),
      item.senderSystem ? ` (${item.senderSystem})` : '',
    ),
    el(
      'td',
      {},
      el('span', { className: 'mono' }, item.receiver ?? '–'),
      item.receiverSystem ? ` (${item.receiverSystem})` : '',
    ),
    el('td', {}, statusBadge(item.status)),
  );
}

function statusBadge(status) {
  const tone = ['rejected', 'failed', 'dead-lettered'].includes(status)
    ? 'bad'
    : status === 'acknowledged' || status === 'delivered'
      ? 'ok'
      : 'wait';
  return el('span', { className: `badge ${tone}` }, STATUS_LABELS[status] ?? status);
}

async function runSearch(append) {
  clearError();
  const params = append ? new URLSearchParams(lastQuery) : searchParams();
  if (append && nextCursor) params.set('cursor', nextCursor);
  lastQuery = new URLSearchParams(params);
  lastQuery.delete('cursor');
  const page = await (await api(`/v1/audit/messages?${params}`)).json();
  const body = $('results-body');
  if (!append) body.replaceChildren();
  for (const item of page.items) body.append(resultRow(item));
  nextCursor = page.next;
  $('more').hidden = !nextCursor;
  $('results').hidden = false;
  const shown = body.children.length;
  $('results-caption').textContent =
    shown === 0
      ? 'Keine Nachrichten gefunden'
      : `Suchergebnisse: ${shown} Nachricht${shown === 1 ? '' : 'en'}`;
  announce(
    shown === 0
      ? 'Keine Nachrichten gefunden.'
      : `${shown} Nachricht${shown === 1 ? '' : 'en'} angezeigt${nextCursor ? ', weitere vorhanden' : ''}.`,
  );
}

$('search-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    await busy(event.submitter ?? $('search-form').querySelector('button[type=submit]'), () =>
      runSearch(false),
    );
  } catch (error) {
    showError(`Suche fehlgeschlagen: ${describeError(error)}`);
  }
});

$('more').addEventListener('click', async () => {
  const before = $('results-body').children.length;
  try {
    await busy($('more'), () => runSearch(true));
    // Keep the keyboard where the new rows begin.
    const first = $('results-body').children[before]?.querySelector('button');
    (first ?? $('results-caption')).focus?.();
  } catch (error) {
    showError(`Weitere Ergebnisse konnten nicht geladen werden: ${describeError(error)}`);
  }
});

/* ---------- trail ---------- */

let currentMessageId = null;

function detailText(detail) {
  const parts = Object.entries(detail ?? {}).map(
    ([key, value]) => `${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`,
  );
  return parts.length > 0 ? parts.join(' · ') : null;
}

function timelineItem(entry) {
  const detail = detailText(entry.detail);
  return el(
    'li',
    { className: `kind-${entry.kind}`, 'data-chain': entry.chain, 'data-seq': String(entry.seq) },
    el(
      'div',
      { className: 'event-head' },
      el('span', { className: 'event-kind' }, eventLabel(entry)),
      formatTime(entry.time),
      el('span', { className: 'proof-badge' }),
    ),
    el('p', { className: 'event-meta' }, `durch ${entry.actor} · Kette ${entry.chain}, Eintrag ${entry.seq}`),
    detail ? el('p', { className: 'event-meta mono' }, detail) : null,
  );
}

function summaryRow(term, ...value) {
  return [el('dt', {}, term), el('dd', {}, ...value)];
}

async function openTrail(messageId) {
  clearError();
  try {
    const { message, trail, truncated } = await (
      await api(`/v1/audit/messages/${encodeURIComponent(messageId)}`)
    ).json();
    currentMessageId = message.messageId;
    $('trail-heading').textContent = `Verlauf der Nachricht ${message.messageId}`;
    $('trail-summary').replaceChildren(
      ...summaryRow('Status', statusBadge(message.status)),
      ...summaryRow('Nachrichtentyp', el('span', { className: 'mono' }, message.messageType ?? '–')),
      ...summaryRow(
        'Absender',
        el('span', { className: 'mono' }, message.sender ?? '–'),
        message.senderSystem ? ` (${message.senderSystem})` : '',
      ),
      ...summaryRow(
        'Empfänger',
        el('span', { className: 'mono' }, message.receiver ?? '–'),
        message.receiverSystem ? ` (${message.receiverSystem})` : '',
      ),
      ...summaryRow('Prüfsumme des Dokuments', el('span', { className: 'mono' }, message.digest ?? '–')),
      ...summaryRow('Ereignisse', `${trail.length}${truncated ? ' (gekürzt)' : ''}`),
    );
    $('timeline').replaceChildren(...trail.map(timelineItem));
    $('verify-result').replaceChildren();
    $('trail-section').hidden = false;
    $('trail-heading').focus();
    announce(`Verlauf mit ${trail.length} Ereignissen geladen.`);
  } catch (error) {
    showError(`Der Verlauf konnte nicht geladen werden: ${describeError(error)}`);
  }
}

/* ---------- proof verification (in this browser) ---------- */

async function verifyCurrent() {
  const { proofs, publicKey, keyId } = await (
    await api(`/v1/audit/messages/${encodeURIComponent(currentMessageId)}/proof`)
  ).json();
  const ownKey = $('own-key').value.trim();
  const key = ownKey || publicKey;
  let ok = 0;
  let pending = 0;
  const failures = [];
  for (const { entry, proof } of proofs) {
    const item = $('timeline').querySelector(
      `li[data-chain="${CSS.escape(entry.chain)}"][data-seq="${entry.seq}"]`,
    );
    const badge = item?.querySelector('.proof-badge');
    if (!proof) {
      pending += 1;
      badge?.replaceChildren(el('span', { className: 'badge wait' }, 'noch kein Checkpoint'));
      continue;
    }
    const verdict = await verifyInclusionProof(proof, key, entry);
    if (verdict.ok) {
      ok += 1;
      badge?.replaceChildren(el('span', { className: 'badge ok' }, `✓ in Checkpoint ${proof.checkpoint.id}`));
    } else {
      failures.push(`Eintrag ${entry.seq} (Kette ${entry.chain}): ${verdict.reason}`);
      badge?.replaceChildren(el('span', { className: 'badge bad' }, '✗ Nachweis ungültig'));
    }
  }
  const total = proofs.length;
  const lines = [];
  let headline;
  if (failures.length > 0) {
    headline = `Nachweis ungültig: ${failures.length} von ${total} Einträgen bestehen die Prüfung nicht.`;
  } else if (pending > 0) {
    headline = `${ok} von ${total} Einträgen sind nachweislich protokolliert; ${pending} ${pending === 1 ? 'ist' : 'sind'} noch von keinem signierten Checkpoint erfasst. Bitte später erneut prüfen.`;
  } else {
    headline = `Nachweis gültig: Alle ${total} Einträge sind in signierten Checkpoints enthalten, die Signaturen sind echt.`;
  }
  lines.push(
    el('p', { className: `verdict ${failures.length > 0 ? 'bad' : pending > 0 ? 'wait' : 'ok'}` }, headline),
  );
  for (const failure of failures) lines.push(el('p', {}, failure));
  lines.push(
    el(
      'p',
      { className: 'hint' },
      ownKey
        ? 'Geprüft mit Ihrem eigenen Schlüssel. '
        : 'Geprüft mit dem vom Gateway gelieferten Schlüssel, Schlüssel-ID ',
      ownKey ? null : el('span', { className: 'mono' }, keyId),
      ownKey ? null : '. Vergleichen Sie die ID mit Ihrer Kopie von audit.pub.',
    ),
  );
  $('verify-result').replaceChildren(...lines);
  announce(headline);
}

$('verify').addEventListener('click', async () => {
  clearError();
  try {
    await busy($('verify'), verifyCurrent);
  } catch (error) {
    showError(`Die Prüfung konnte nicht durchgeführt werden: ${describeError(error)}`);
  }
});

/* ---------- export ---------- */

let exportUrl = null;

$('export-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  clearError();
  const form = $('export-form');
  const params = new URLSearchParams();
  for (const name of ['from', 'to']) {
    const value = localToIso(form.elements[name].value);
    if (value) params.set(name, value);
  }
  try {
    await busy(event.submitter ?? form.querySelector('button'), async () => {
      const response = await api(`/v1/audit/export?${params}`, {
        headers: { accept: 'application/x-ndjson' },
      });
      const blob = await response.blob();
      const name =
        /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1] ??
        'audit-export.jsonl';
      const text = await blob.text();
      const last = JSON.parse(text.trimEnd().split('\n').at(-1) ?? '{}');
      if (exportUrl) URL.revokeObjectURL(exportUrl);
      exportUrl = URL.createObjectURL(blob);
      const link = el('a', { href: exportUrl, download: name, id: 'export-link' }, `${name} herunterladen`);
      const redacted = last.redacted ? `, davon ${last.redacted} geschwärzt` : '';
      const summary = `Export erstellt: ${last.entries ?? '?'} Einträge${redacted}, ${last.checkpoints ?? '?'} Checkpoints (${Math.ceil(blob.size / 1024)} KB).`;
      $('export-result').replaceChildren(summary, ' ', link);
      announce(summary);
      link.focus();
    });
  } catch (error) {
    showError(`Export fehlgeschlagen: ${describeError(error)}`);
  }
});

/* ---------- start ---------- */

if (session.token) {
  signIn(session.token).catch(() => signOut());
}
