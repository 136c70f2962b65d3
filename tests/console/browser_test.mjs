// gridflow-console in a real browser (Debian's Chromium, headless, driven by puppeteer-core):
// an operator filters the runs to the failed ones, opens one, sees its history and the failing
// step on the graph, retries it and sees it complete; a reader is refused the retry; the console
// shows an error while its engine restarts and recovers by itself. Set up by
// console_browser_test.sh (CONSOLE_URL, ENGINE_CTL, CONSOLE_LEDGER_OPEN, SCREENSHOT_DIR).
import {execFileSync} from 'node:child_process';
import {writeFileSync} from 'node:fs';
import assert from 'node:assert/strict';
import puppeteer from 'puppeteer-core';

const url = process.env.CONSOLE_URL;
const shots = process.env.SCREENSHOT_DIR;
const FAILED = 'settlement-2026-12-01';
const OTHER_FAILED = 'settlement-2026-12-02';

function step(text) { console.log(`-- ${text}`); }

async function shot(page, name) {
  await page.screenshot({path: `${shots}/${name}.png`, fullPage: true});
}

async function textOf(page, selector) {
  return page.$eval(selector, (el) => el.textContent);
}

async function waitText(page, selector, text, timeout = 20000) {
  await page.waitForFunction((s, t) => {
    const el = document.querySelector(s);
    return el && el.textContent.includes(t);
  }, {timeout}, selector, text);
}

async function signIn(page, token, name) {
  await page.goto(`${url}/#/signin`, {waitUntil: 'networkidle0'});
  await page.waitForSelector('#token');
  await page.type('#token', token);
  await page.type('#name', name);
  await page.click('#sign-in');
  await page.waitForSelector('#run-filters');
  await waitText(page, '#who', `Signed in as ${name}`);
}

async function openRun(page, workflowId) {
  await page.goto(`${url}/#/run?id=${encodeURIComponent(workflowId)}`, {waitUntil: 'networkidle0'});
  await page.waitForSelector('#history li');
}

// Answers the confirmation dialog of an action with `reason`.
async function confirmWith(page, reason) {
  await page.waitForSelector('#confirm[open] input[name=reason]');
  await page.type('#confirm input[name=reason]', reason);
  await page.click('#confirm-yes');
  await page.waitForFunction(() => !document.querySelector('#confirm').open);
}

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  defaultViewport: {width: 1360, height: 900},
});
const pageErrors = [];
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));

  step('the operator signs in with their token');
  await signIn(page, 't-ops', 'anna');

  step('the runs page, filtered to failed runs');
  await page.select('#run-filters select[name=status]', 'failed');
  await page.click('#run-filters button[type=submit]');
  await page.waitForFunction(() => location.hash.includes('status=failed'));
  await page.waitForSelector(`tr[data-workflow-id="${FAILED}"]`);
  // The unfiltered list may still be on screen, or the filtered one half drawn: wait for the
  // filtered table (the assertions below then say what it shows if it never comes).
  await page.waitForFunction(() => {
    const badges = [...document.querySelectorAll('table.runs tbody .badge')].map((e) => e.textContent);
    return badges.length >= 2 && badges.every((s) => s === 'FAILED');
  }, {timeout: 20000}).catch(() => {});
  const statuses = await page.$$eval('table.runs tbody .badge', (els) => els.map((e) => e.textContent));
  assert.ok(statuses.length >= 2, `two failed runs listed, got ${statuses}`);
  assert.ok(statuses.every((s) => s === 'FAILED'), `only failed runs: ${statuses}`);
  await shot(page, 'runs-failed');

  step('the failed run: status, history, the failing step');
  await page.click(`tr[data-workflow-id="${FAILED}"] a.run-link`);
  await page.waitForSelector('#history li[data-type=RunFailed]');
  assert.equal(await textOf(page, '#run-status'), 'FAILED');
  const failure = await textOf(page, '#last-failure');
  assert.match(failure, /settle/);
  assert.match(failure, /LedgerClosed/);
  const types = await page.$$eval('#history li', (els) => els.map((e) => e.dataset.type));
  assert.equal(types[0], 'RunStarted');
  assert.ok(types.includes('TaskFailed'), `history has the failed attempt: ${types}`);
  assert.ok(await page.$('#definition-graph g.state-failed[data-step=settle]'),
            'the graph marks the failing step');
  assert.ok(await page.$('#definition-graph g.state-done[data-step=fetch_metering]'),
            'the graph marks the steps done');
  await shot(page, 'run-failed');

  step('the operator retries it (after the ledger opened) and sees it complete');
  writeFileSync(process.env.CONSOLE_LEDGER_OPEN, 'open\n');
  await page.click('#action-retry');
  await confirmWith(page, 'ledger open again');
  await waitText(page, '#run-status', 'COMPLETED', 30000);
  await page.waitForSelector('#history li[data-type=RunCompleted]');
  const retried = await page.$eval('#history li[data-type=RunRetried] .actor', (e) => e.textContent);
  assert.equal(retried, 'token:ops-anna', 'the history records the operator, not the console');
  assert.ok(await page.$('#definition-graph g.state-done[data-step=settle]'));
  await shot(page, 'run-completed');

  step('a reader is refused the retry, and nothing changes');
  const readerContext = await browser.createBrowserContext();
  const reader = await readerContext.newPage();
  reader.on('pageerror', (e) => pageErrors.push(String(e)));
  await signIn(reader, 't-reader', 'rita');
  await openRun(reader, OTHER_FAILED);
  await reader.click('#action-retry');
  await confirmWith(reader, 'trying');
  await waitText(reader, '#banner', 'PERMISSION_DENIED');
  assert.match(await textOf(reader, '#banner'), /token:reader-rita/);
  assert.equal(await textOf(reader, '#run-status'), 'FAILED');
  await shot(reader, 'reader-refused');
  await readerContext.close();

  step('queues, cluster and definitions pages');
  await page.goto(`${url}/#/queues`, {waitUntil: 'networkidle0'});
  await page.waitForSelector('#queues tr[data-queue=settlement]');
  await shot(page, 'queues');
  await page.goto(`${url}/#/cluster`, {waitUntil: 'networkidle0'});
  await waitText(page, '#members', 'SERVING');
  await shot(page, 'cluster');
  await page.goto(`${url}/#/definitions?name=imbalance-settlement&version=2&from=1&to=2`,
                  {waitUntil: 'networkidle0'});
  await waitText(page, '#diff', 'steps[settle].retry.max_attempts');
  await shot(page, 'definition-diff');

  step('the engine restarts under the console: an error, then recovery by itself');
  await page.goto(`${url}/#/runs`, {waitUntil: 'networkidle0'});
  await page.waitForSelector(`tr[data-workflow-id="${FAILED}"]`);
  execFileSync('bash', [process.env.ENGINE_CTL, 'stop'], {stdio: 'inherit'});
  await waitText(page, '#banner', 'Engine unavailable', 30000);
  await shot(page, 'engine-down');
  execFileSync('bash', [process.env.ENGINE_CTL, 'start'], {stdio: 'inherit'});
  await page.waitForFunction(() => document.querySelector('#banner').hidden, {timeout: 30000});
  await page.waitForSelector(`tr[data-workflow-id="${FAILED}"]`);

  assert.deepEqual(pageErrors, [], 'no script errors in the pages');
  console.log('console browser test: passed');
} finally {
  await browser.close();
}
