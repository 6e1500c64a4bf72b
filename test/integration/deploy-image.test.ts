// SPDX-License-Identifier: Apache-2.0
//
// The image's file tree without Docker (this machine has no container engine): the Dockerfile's
// steps replayed in a temp dir — `npm ci --omit=dev --ignore-scripts` from the lockfile, then only
// package.json, controller/ (without tests) and crds/ — and the controller's modules loaded from it
// by Node 24. Proves the runtime needs no devDependency and nothing outside controller/ (test/ is not
// in the image), which a Docker build alone would only reveal at runtime.

import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from './deploy-identity.ts';

const run = promisify(execFile);
// Node 24 from the node@24 devDependency (the image's runtime is Node 24 too).
const node = join(repoRoot, 'node_modules', '.bin', 'node');
// npm itself is the system one, run by Node 24 through PATH (as `npm run` does).
const pathWithNode24 = `${join(repoRoot, 'node_modules', '.bin')}:${process.env['PATH'] ?? ''}`;

async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await tsFiles(p)));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

describe('image contents (Dockerfile replayed without Docker)', () => {
  let app: string;

  beforeAll(async () => {
    app = await mkdtemp(join(tmpdir(), 'fleet-ilb-image-'));
    await cp(join(repoRoot, 'package.json'), join(app, 'package.json'));
    await cp(join(repoRoot, 'package-lock.json'), join(app, 'package-lock.json'));
    // RUN npm ci --omit=dev --ignore-scripts (offline first: the lockfile's tarballs are cached).
    await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], {
      cwd: app,
      env: { ...process.env, PATH: pathWithNode24, NODE_ENV: 'production', npm_config_update_notifier: 'false' },
      timeout: 300_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    // COPY controller/ (minus .dockerignore'd tests) and crds/.
    await cp(join(repoRoot, 'controller'), join(app, 'controller'), {
      recursive: true,
      filter: (src) => !src.endsWith('.test.ts'),
    });
    await cp(join(repoRoot, 'crds'), join(app, 'crds'), { recursive: true });
  }, 600_000);

  afterAll(async () => {
    if (app !== undefined) await rm(app, { recursive: true, force: true });
  });

  it('installs no devDependency', async () => {
    const installed = new Set(await readdir(join(app, 'node_modules')));
    for (const dev of ['vitest', 'typescript', 'typescript-eslint', 'eslint', '@eslint', 'fast-check', 'node']) expect(installed.has(dev), dev).toBe(false);
    for (const prod of ['@kubernetes', '@google-cloud', 'yaml', 'zod', 'pino', 'prom-client']) expect(installed.has(prod), prod).toBe(true);
  });

  it('loads every controller module with production dependencies only', async () => {
    const files = (await tsFiles(join(app, 'controller'))).filter((f) => !f.endsWith('/cli.ts'));
    expect(files.length).toBeGreaterThan(0);
    const script = files.map((f) => `await import(${JSON.stringify('./' + relative(app, f))});`).join('\n');
    await writeFile(join(app, 'load-all.mjs'), `${script}\nprocess.stdout.write('loaded ${files.length}');\n`);
    const r = await run(node, ['--disable-warning=ExperimentalWarning', 'load-all.mjs'], {
      cwd: app,
      env: { ...process.env, NODE_ENV: 'production', NODE_PATH: '' },
      timeout: 120_000,
    }).catch((e: unknown) => {
      // Show which import failed (a devDependency or a path outside controller/).
      throw new Error(`loading controller modules from the image tree failed: ${(e as { stderr?: string }).stderr ?? String(e)}`);
    });
    expect(r.stdout).toBe(`loaded ${files.length}`);
  });

  it('starts the fleet-ilb command as the image ENTRYPOINT does', async () => {
    const r = await run(node, ['controller/cli.ts', '--help'], { cwd: app, timeout: 60_000 });
    expect(r.stdout + r.stderr).toMatch(/usage: fleet-ilb <command>/);
    expect(r.stdout + r.stderr).toMatch(/controller/);
  });

  it('knows every flag the Deployment passes (deploy/config/deployment.yaml against `controller --help`)', async () => {
    const rendered = await run('kubectl', ['kustomize', join(repoRoot, 'deploy', 'config')], { maxBuffer: 16 * 1024 * 1024 });
    const deploy = parseAllDocuments(rendered.stdout)
      .map((d) => d.toJS() as { kind: string; spec?: { template: { spec: { containers: { args: string[] }[] } } } })
      .find((o) => o.kind === 'Deployment')!;
    const flags = deploy.spec!.template.spec.containers[0]!.args.map((a) => a.split('=')[0]!);
    expect(flags.length).toBeGreaterThan(0);
    const help = await run(node, ['controller/cli.ts', 'controller', '--help'], { cwd: app, timeout: 60_000 });
    for (const f of flags) expect(help.stdout, f).toMatch(new RegExp(`^\\s+${f}[ =]`, 'm'));
  });
});
