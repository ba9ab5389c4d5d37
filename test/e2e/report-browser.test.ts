/**
 * The HTML report in a real browser (Debian's Chromium, driven by
 * playwright-core): rendered by the CLI from a recorded real run, opened from
 * disk with the network closed, checked and photographed.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import { ROOT, cli, tempDir } from './harness.ts';
import { recordedWithPilots } from '../pilot-results.ts';

const CHROMIUM = '/usr/bin/chromium';

/** Opens URL in a fresh headless Chromium (no network of its own), collecting console errors and anything fetched that is not a file; closes it after. */
async function inBrowser(url: string, body: (b: { page: Page; problems: string[]; fetched: string[] }) => Promise<void>): Promise<void> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    const problems: string[] = [];
    const fetched: string[] = [];
    page.on('console', (m) => (m.type() === 'error' || m.type() === 'warning') && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('request', (q) => !q.url().startsWith('file://') && fetched.push(q.url()));
    await page.goto(url);
    await body({ page, problems, fetched });
  } finally {
    await browser.close();
  }
}

describe('HTML report in Chromium', () => {
  test('matrix, a failing cell opens its details, capabilities and chart present, no console errors, nothing fetched', async () => {
    const out = tempDir('criu-compat-report-');
    const r = await cli(['report', join(ROOT, 'fixtures/recorded/results/default-matrix.json'), '--out', out]);
    expect(r.exitCode, r.all).toBe(0);
    const html = join(out, '2026-11-25T07-56-25Z-79aa', 'report.html');
    expect(existsSync(html)).toBe(true);

    await inBrowser(`file://${html}`, async ({ page, problems, fetched }) => {

      expect(await page.locator('#matrix tbody tr').count()).toBe(9);
      expect(await page.locator('#verdict').textContent()).toBe('FAIL');
      // host-bookworm's "check" cell is FAIL: clicking it opens its details with the vDSO diagnosis.
      const cell = page.locator('tr[data-pool="host-bookworm"] td.cell.FAIL a').first();
      const id = (await cell.getAttribute('data-cell'))!;
      expect(await page.locator(`details#${id}`).getAttribute('open')).toBeNull();
      await cell.click();
      await page.waitForFunction((i) => (document.getElementById(i) as HTMLDetailsElement).open, id);
      const detail = page.locator(`details#${id}`);
      expect(await detail.textContent()).toMatch(/vvar clock pages/);
      expect(await detail.locator('.diag').first().isVisible()).toBe(true);
      // Failures are listed first.
      expect(await page.locator('#details details').first().getAttribute('data-status')).toMatch(/FAIL|ERROR/);
      // ...and once per pool and cause: host-bookworm's 41 vDSO failures of criu-check are one group, closed until opened.
      const group = page.locator('details.failure-group[data-pool="host-bookworm"][data-suite="criu-check"]');
      expect(await group.count()).toBe(1);
      expect(await page.locator('details.failure-group').count()).toBe(5);
      expect(await group.locator('summary').textContent()).toMatch(/41 cells .* CRIU does not understand this kernel's vDSO layout/);
      const links = group.locator('ul.group-cells a');
      expect(await links.first().isVisible()).toBe(false);
      await group.locator('summary').click();
      expect(await links.count()).toBe(41);
      expect(await links.nth(5).isVisible()).toBe(true);
      // A cell of the group opens its own details.
      const member = (await links.nth(5).getAttribute('data-cell'))!;
      expect(member).not.toBe(id);
      await links.nth(5).click();
      await page.waitForFunction((i) => (document.getElementById(i) as HTMLDetailsElement).open, member);
      expect(await page.locator(`details#${member} summary`).textContent()).toMatch(/host-bookworm › criu-check › feature:/);
      expect(await page.locator('#failures').boundingBox().then((b) => b!.y)).toBeLessThan(await page.locator('#details').boundingBox().then((b) => b!.y));
      expect(await page.locator('#capabilities tr').count()).toBeGreaterThan(40);
      expect(await page.locator('#scale svg polyline').count()).toBe(5);
      await page.screenshot({ path: join(out, 'report.png'), fullPage: false });
      expect(problems).toEqual([]);
      expect(fetched).toEqual([]);

      // report --history: the run directory as a one-run site; its index links to the report.
      const h = await cli(['report', '--history', out]);
      expect(h.exitCode, h.all).toBe(0);
      await page.goto(`file://${join(out, 'index.html')}`);
      expect(await page.locator('#trend tr[data-pool]').count()).toBe(9);
      expect(await page.locator('#trend tr[data-pool="k5.10-trixie"] td.s').textContent()).toBe('FAIL');
      await page.locator('#runs a').first().click();
      expect(await page.locator('#matrix tbody tr').count()).toBe(9);
      expect(problems).toEqual([]);
    });
  }, 120_000);

  test('pilot verdict board: pools × pilots coloured by verdict, conditions in the squares, a square opens its evidence, whose cells open theirs', async () => {
    // The recorded run with synthetic pilot cells (test/pilot-results.ts), verdicts judged by judgePilots; rendered by the CLI.
    const out = tempDir('criu-compat-board-');
    const results = recordedWithPilots();
    writeFileSync(join(out, 'results.json'), JSON.stringify(results));
    const r = await cli(['report', join(out, 'results.json')]);
    expect(r.exitCode, r.all).toBe(0);

    await inBrowser(`file://${join(out, 'report.html')}`, async ({ page, problems, fetched }) => {

      const board = page.locator('#pilot-board');
      expect(await board.locator('tr[data-pool]').count()).toBe(3);
      expect(await board.locator('tr[data-pool="host-trixie"] td.square').allTextContents()).toEqual(['GO', 'CONDITIONALonly between these pools: host-trixie → k6.12-trixie', 'UNDECIDED']);
      // Each verdict its own colour.
      const bg = async (pool: string, i: number) => board.locator(`tr[data-pool="${pool}"] td.square`).nth(i).evaluate((e) => getComputedStyle(e).backgroundColor);
      const colours = new Set([await bg('host-trixie', 0), await bg('host-trixie', 1), await bg('host-bookworm', 0), await bg('host-trixie', 2)]);
      expect(colours.size).toBe(4);
      // The board sits above the failures: the change board reads it first.
      expect(await board.boundingBox().then((b) => b!.y)).toBeLessThan(await page.locator('#failures').boundingBox().then((b) => b!.y));
      await board.screenshot({ path: join(out, 'board.png') });

      // A square opens its evidence: criteria measured vs limit, the stage cells, the response.
      const square = board.locator('a[data-verdict="pv-k6.12-trixie--redis"]');
      const evidence = page.locator('details#pv-k6\\.12-trixie--redis');
      expect(await evidence.getAttribute('open')).toBeNull();
      await square.click();
      await page.waitForFunction(() => (document.getElementById('pv-k6.12-trixie--redis') as HTMLDetailsElement).open);
      expect(await evidence.locator('table.criteria tr', { hasText: 'held connection survived' }).filter({ hasText: 'missed' }).count()).toBe(1);
      expect(await evidence.locator('.diag').textContent()).toMatch(/Response: disable established-TCP restore/);
      expect(await evidence.locator('table.stage-cells td.cell.FAIL').count()).toBe(1);
      await page.screenshot({ path: join(out, 'evidence.png') });
      // ...and a stage cell opens that cell's own details (reason, metrics).
      const link = evidence.locator('table.stage-cells a', { hasText: 'redis/checkpoint-restore/reconnect' });
      const id = (await link.getAttribute('data-cell'))!;
      await link.click();
      await page.waitForFunction((i) => (document.getElementById(i) as HTMLDetailsElement).open, id);
      expect(await page.locator(`details#${id}`).textContent()).toMatch(/pilot: clientGapMsMax\s*900 ms/);
      expect(problems).toEqual([]);
      expect(fetched).toEqual([]);
    });
  }, 120_000);
});
