// The dashboard end to end in a real headless browser (playwright-core + Debian's chromium): upload
// breast_cancer.csv → define a model (seeing the API's validation error at the layer first) → train
// a few epochs → the loss curve shows points → the version appears → predict one row; then a small
// tuning study on that model, watched and then a second one cancelled from its study page.
//
// It runs `trainyard server` as its own process (local executor, so training really runs) with the
// built dashboard (web/dist; built here when missing). With TRAINYARD_SCREENSHOTS=<dir> it also saves
// screenshots of the main pages there (scripts/screenshots.ts → docs/screenshots/).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from './support/processes.ts';

const ROOT = resolve(import.meta.dirname, '..');
const CHROMIUM = process.env.TRAINYARD_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOTS = process.env.TRAINYARD_SCREENSHOTS ? resolve(ROOT, process.env.TRAINYARD_SCREENSHOTS) : undefined;
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];


/** Builds web/dist unless it is there (scripts/bootstrap.sh normally has). */
function ensureDashboardBuilt(): void {
  if (existsSync(join(ROOT, 'web/dist/index.html'))) return;
  if (!existsSync(join(ROOT, 'web/node_modules/.package-lock.json'))) execFileSync('npm', ['ci', '--prefix', 'web', '--no-audit', '--no-fund'], { cwd: ROOT, stdio: 'inherit' });
  execFileSync('npm', ['run', '--prefix', 'web', 'build'], { cwd: ROOT, stdio: 'inherit' });
}


async function shot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<void> {
  if (!SCREENSHOTS) return;
  await page.evaluate('window.scrollTo(0, 0)');
  await page.waitForTimeout(300); // let transitions settle
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: options.fullPage ?? true });
}

describe('dashboard (headless chromium)', () => {
  let server: ServerProcess | undefined;
  let base = process.env.TRAINYARD_E2E_URL ?? '';
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    if (!base) {
      ensureDashboardBuilt();
      server = await startServerProcess({ TRAINYARD_AUTH: 'off', TRAINYARD_MONITORING_FLUSH_MS: '200', TRAINYARD_MAX_CONCURRENT_JOBS: '2' });
      base = server.url;
    }
    if (SCREENSHOTS) await mkdir(SCREENSHOTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    page.on('console', (message) => {
      // The deliberate 400 of the invalid model shows as a failed resource; count only script errors.
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(String(error)));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('serves the app at / and its client-side paths, and keeps API 404s as problem+json', async () => {
    for (const path of ['/', '/datasets', '/models/anything', '/jobs/job_x', '/tuning/tun_x']) {
      const response = await fetch(`${base}${path}`);
      expect(response.status, path).toBe(200);
      expect(await response.text()).toContain('<div id="root"></div>');
    }
    const missing = await fetch(`${base}/v1/no-such-route`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/problem+json');
    const openapi = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(openapi.paths).filter((p) => !p.startsWith('/v1/') && !['/healthz', '/readyz', '/metrics'].includes(p))).toEqual([]);
  });

  it('uploads breast_cancer.csv, defines a model, trains it live, and predicts one row', async () => {
    // 1. Upload (drag-and-drop area backed by a file input; XHR progress).
    await page.goto(`${base}/datasets`);
    await expect.poll(() => page.getByRole('heading', { name: 'Datasets' }).isVisible()).toBe(true);
    await page.locator('[data-testid=dataset-file]').setInputFiles(join(ROOT, 'examples/breast_cancer.csv'));
    await expect.poll(() => page.getByLabel('Dataset name').inputValue()).toBe('breast_cancer');
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    await page.waitForURL(/\/datasets\/[^/]+$/, { timeout: 60_000 });
    await page.getByRole('heading', { name: /breast_cancer/ }).waitFor();
    await page.getByRole('img', { name: /Histogram of radius_mean/ }).waitFor();
    expect(await page.getByRole('table', { name: 'Column profile' }).getByRole('row').count()).toBe(32); // header + 31 columns
    const datasetVersion = (await page.locator('h2 .mantine-Badge-root').first().textContent())?.trim(); // "v1" on a fresh server
    await shot(page, 'dataset');

    // 2. Define a model in the JSON editor; the API's error shows at the layer it concerns.
    await page.getByRole('link', { name: 'Define a model' }).click();
    await page.waitForURL(/\/models\/new/);
    // The form's layers come from the generated catalogue: each row says what its layer takes.
    expect(await page.getByTestId('layer-0-hint').textContent()).toContain('out_features (required)');
    expect(await page.getByTestId('layer-2-hint').textContent()).toContain('p = 0.5');
    await page.getByRole('tab', { name: 'JSON editor' }).click();
    const editor = page.getByLabel('Model definition (JSON)');
    const model = process.env.TRAINYARD_E2E_URL ? `cancer-${Date.now().toString(36)}` : 'cancer'; // unique on a reused server
    const spec = (outFeatures: number) =>
      JSON.stringify(
        { name: model, task: 'binary_classification', target: 'diagnosis', layers: [{ type: 'Linear', out_features: outFeatures }, { type: 'ReLU' }, { type: 'Linear', out_features: 1 }] },
        null,
        2,
      );
    await editor.fill(spec(-4));
    await page.getByRole('button', { name: 'Create model' }).click();
    await page.getByText('Problems by layer').waitFor();
    await expect.poll(() => page.getByText(/layer 0 \(Linear\)/).isVisible()).toBe(true);
    await shot(page, 'model-validation');
    await editor.fill(spec(16));
    await page.getByRole('button', { name: 'Create model' }).click();
    await page.waitForURL(new RegExp(`/models/${model}$`));
    await page.getByRole('table', { name: 'Layers' }).waitFor();
    expect(await page.getByRole('table', { name: 'Layers' }).textContent()).toContain('[16]');

    // 3. Train a few epochs; the job page's curve fills from the event stream.
    await page.getByRole('button', { name: 'Train', exact: true }).click();
    await page.waitForURL(new RegExp(`/jobs\\?model=${model}`));
    await page.getByRole('combobox', { name: 'Dataset' }).click();
    await page.getByRole('option', { name: `breast_cancer ${datasetVersion}` }).click();
    await page.getByLabel('Epochs').fill('6');
    await page.getByRole('button', { name: 'Start training' }).click();
    await page.waitForURL(/\/jobs\/[^/?]+$/);
    const lossChart = page.locator('[data-testid=chart-loss]');
    await lossChart.waitFor({ timeout: 120_000 });
    await expect.poll(async () => Number(await lossChart.getAttribute('data-points')), { timeout: 120_000 }).toBeGreaterThan(0);
    await page.getByTestId('job-succeeded').waitFor({ timeout: 180_000 });
    expect(Number(await lossChart.getAttribute('data-points'))).toBe(6);
    expect(await page.locator('.logs').textContent()).toContain('trainer');
    await shot(page, 'training-job');

    // 4. The version appears on the model page, with its metrics.
    await page.goto(`${base}/models/${model}`);
    const versions = page.getByRole('table', { name: 'Versions' });
    await versions.waitFor();
    expect(await versions.textContent()).toContain('v1');
    expect(await versions.textContent()).toMatch(/val_loss/);
    await shot(page, 'model');

    // 5. Predict one row from the form generated from the version's signature.
    await page.getByRole('button', { name: 'Predict', exact: true }).click();
    await page.waitForURL(new RegExp(`/predict\\?model=${model}`));
    await page.getByRole('button', { name: 'Fill from a training row' }).click();
    await expect.poll(() => page.getByLabel('radius_mean').inputValue()).not.toBe('');
    await page.getByRole('button', { name: 'Predict', exact: true }).click();
    const label = page.getByTestId('prediction-label');
    await label.waitFor();
    expect(['0', '1']).toContain((await label.textContent())?.trim());
    expect(await page.getByRole('progressbar', { name: /Probability of/ }).count()).toBe(2);

    // 6. A batch inference job over the whole dataset, with its stats and output download.
    await page.getByRole('combobox', { name: 'Dataset to score' }).click();
    await page.getByRole('option', { name: new RegExp(`^breast_cancer ${datasetVersion} `) }).click();
    await page.getByRole('button', { name: 'Run inference job' }).click();
    const inference = page.getByRole('table', { name: 'Inference jobs' });
    await inference.getByRole('button', { name: 'CSV' }).waitFor({ timeout: 120_000 });
    expect(await inference.textContent()).toContain('569');
    await shot(page, 'predict');

    // 7. Monitoring: turn prediction logging on from the model page, serve rows, see drift per feature.
    await page.goto(`${base}/models/${model}`);
    await page.getByTestId('monitoring-state').waitFor();
    expect(await page.getByTestId('monitoring-state').textContent()).toContain('off');
    await page.getByLabel('Sample rate').fill('1');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expect.poll(() => page.getByTestId('monitoring-state').textContent()).toContain('100% of rows');
    const csvLines = (await readFile(join(ROOT, 'examples/breast_cancer.csv'), 'utf8')).trim().split('\n');
    const served = [csvLines[0], ...csvLines.slice(1, 201)].join('\n') + '\n';
    expect((await fetch(`${base}/v1/models/${model}/predict`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: served })).status).toBe(200);
    await expect
      .poll(async () => {
        await page.goto(`${base}/models/${model}`);
        await page.getByRole('table', { name: 'Drift per feature' }).waitFor();
        return page.getByRole('table', { name: 'Drift per feature' }).textContent();
      }, { timeout: 30_000 })
      .toMatch(/radius_mean[\d.]+(ok|warn|drift)/);
    await page.getByTestId(/^bins-/).first().waitFor();
    await shot(page, 'monitoring');

    // 8. A small tuning study of the model: the list links to its page, which shows the trials, the
    //    best one, the objective chart and each trial's curve; a second study is cancelled from its page.
    const startStudy = async (maxTrials: number, epochs: number) => {
      const response = await fetch(`${base}/v1/tuning-jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, dataset: 'breast_cancer', hyperparameters: { epochs }, search_space: { 'optimizer.lr': { log_uniform: [0.001, 0.05] } }, strategy: 'random', objective: { metric: 'val_loss' }, max_trials: maxTrials, max_parallel: 2 }),
      });
      expect(response.status).toBe(202);
      return ((await response.json()) as { id: string }).id;
    };
    const studyId = await startStudy(2, 2);
    await page.goto(`${base}/tuning`);
    await page.getByRole('table', { name: 'Tuning studies' }).getByRole('link', { name: studyId }).click();
    await page.waitForURL(new RegExp(`/tuning/${studyId}$`));
    await page.getByTestId('study-succeeded').waitFor({ timeout: 300_000 }); // ≈ 20 s on a quiet machine
    const trialsTable = page.getByRole('table', { name: 'Trials' });
    await expect.poll(() => trialsTable.getByRole('row').count()).toBe(3); // header + 2 trials
    expect(await trialsTable.getByRole('link', { name: /^job_/ }).count()).toBe(2);
    expect(await page.getByTestId('study-progress').textContent()).toContain('2 of 2 trials ended');
    expect(await page.getByTestId('best-trial').textContent()).toContain('optimizer.lr');
    expect(Number(await page.getByTestId('chart-objective').getAttribute('data-points'))).toBe(2);
    expect(Number(await page.getByTestId('chart-trial-curves').getAttribute('data-points'))).toBe(2);
    expect(await page.getByText('Shown once 6 trials have succeeded.').isVisible()).toBe(true);
    await shot(page, 'tuning-study');
    const doomed = await startStudy(20, 30);
    await page.goto(`${base}/tuning/${doomed}`);
    await page.getByRole('button', { name: 'Cancel study' }).click();
    await page.getByLabel('status cancelled').first().waitFor({ timeout: 120_000 });

    // The lists, for the docs.
    if (SCREENSHOTS) {
      for (const name of ['iris', 'diabetes']) {
        const body = await readFile(join(ROOT, `examples/${name}.csv`));
        expect((await fetch(`${base}/v1/datasets?name=${name}`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body })).status).toBe(201);
      }
      await page.goto(`${base}/datasets`);
      await page.getByRole('table', { name: 'Datasets' }).waitFor();
      await shot(page, 'datasets');
      await page.goto(`${base}/jobs`);
      await page.getByRole('table', { name: 'Training jobs' }).waitFor();
      await shot(page, 'training-jobs');
      const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
      await phone.goto(`${base}/models/${model}`);
      await phone.getByRole('table', { name: 'Versions' }).waitFor();
      await shot(phone, 'phone-model', { fullPage: false });
      await phone.close();
    }
    expect(consoleErrors).toEqual([]);
  }, 800_000);
});
