// The GitHub Actions workflows can't run here; these tests read them and check what must hold:
// CI installs, typechecks, lints, tests against MariaDB and synthesizes; deploy assumes a role
// through OIDC (no stored credentials), pushes both images, runs `cdk deploy`, then CodeDeploy.
// yamllint runs over them (and appspec.yml) when it is installed.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parse } from 'yaml';

const root = resolve(import.meta.dirname, '../..');

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  if?: string;
}
interface Job {
  'runs-on'?: string;
  uses?: string;
  needs?: string | string[];
  services?: Record<string, { image: string; env?: Record<string, string> }>;
  env?: Record<string, string>;
  permissions?: Record<string, string>;
  steps?: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}

function load(name: string): { text: string; workflow: Workflow } {
  const text = readFileSync(join(root, '.github/workflows', name), 'utf8');
  return { text, workflow: parse(text) as Workflow };
}

const ci = load('ci.yml');
const deploy = load('deploy.yml');

/** Index of the first step whose run script or uses matches, or -1. */
function stepIndex(steps: Step[], pattern: RegExp): number {
  return steps.findIndex((s) => pattern.test(s.run ?? '') || pattern.test(s.uses ?? ''));
}

describe.each([
  ['ci.yml', ci],
  ['deploy.yml', deploy],
])('%s', (_name, { text, workflow }) => {
  it('holds no credentials: no secrets context, no access keys, no passwords', () => {
    expect(text).not.toMatch(/\$\{\{\s*secrets\./);
    expect(text).not.toMatch(/AKIA[0-9A-Z]{16}/);
    expect(text).not.toMatch(/aws-(access-key-id|secret-access-key)|AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID/i);
    // A key or variable named …password with a literal value (MARIADB_ALLOW_EMPTY_ROOT_PASSWORD is a switch, not one).
    expect(text).not.toMatch(/(^|[^\w])password\s*[:=]\s*['"]?[^\s'"$]+/im);
    expect(text).not.toMatch(/mysql:\/\/[^:@/\s]+:[^@\s]+@/);
  });

  it('pins every action to a version', () => {
    for (const job of Object.values(workflow.jobs)) {
      for (const step of job.steps ?? []) {
        if (step.uses) expect(step.uses, step.uses).toMatch(/^[\w.-]+\/[\w./-]+@(v\d[\w.]*|[0-9a-f]{40})$/);
      }
    }
  });

  it('defaults to read-only repository permissions', () => {
    expect(workflow.permissions).toEqual({ contents: 'read' });
  });
});

describe('ci.yml', () => {
  const { workflow } = ci;
  const test = workflow.jobs.test;
  const steps = test.steps ?? [];

  it('runs on pushes, pull requests, and when deploy.yml calls it', () => {
    expect(Object.keys(workflow.on).sort()).toEqual(['pull_request', 'push', 'workflow_call']);
  });

  it('tests against a MariaDB service through TRAINYARD_TEST_MYSQL_URL', () => {
    const [serviceName, service] = Object.entries(test.services ?? {})[0];
    expect(service.image).toMatch(/^mariadb:/);
    expect(test.env?.TRAINYARD_TEST_MYSQL_URL).toMatch(new RegExp(`^mysql://[^:@]+@${serviceName}:3306/`));
    expect(test.env?.ONNXRUNTIME_NODE_INSTALL).toBe('skip');
  });

  it('installs, typechecks, lints, tests and synthesizes, in that order', () => {
    const order = [/bootstrap\.sh --test|npm ci\b/, /tsc --noEmit/, /eslint/, /vitest run/, /python3 -m pytest/, /npm test --prefix infra/, /npm run synth --prefix infra/];
    const indexes = order.map((p) => stepIndex(steps, p));
    for (const [i, index] of indexes.entries()) expect(index, String(order[i])).toBeGreaterThanOrEqual(0);
    expect([...indexes].sort((a, b) => a - b)).toEqual(indexes);
    expect(stepIndex(steps, /shellcheck deploy\/codedeploy/)).toBeGreaterThanOrEqual(0);
    expect(stepIndex(steps, /yamllint/)).toBeGreaterThanOrEqual(0);
  });

  it('lints the workflows with actionlint and the Dockerfiles with hadolint, and builds the images', () => {
    expect(stepIndex(workflow.jobs.workflows.steps ?? [], /actionlint/)).toBeGreaterThanOrEqual(0);
    const images = workflow.jobs.images.steps ?? [];
    expect(stepIndex(images, /hadolint/)).toBeGreaterThanOrEqual(0);
    expect(stepIndex(images, /docker build -f deploy\/Dockerfile\.api/)).toBeGreaterThanOrEqual(0);
    expect(stepIndex(images, /docker build -f deploy\/Dockerfile\.trainer /)).toBeGreaterThanOrEqual(0);
  });
});

describe('deploy.yml', () => {
  const { workflow } = deploy;
  const job = workflow.jobs.deploy;
  const steps = job.steps ?? [];

  it('runs on pushes to main, after CI passes', () => {
    expect(workflow.on.push).toEqual({ branches: ['main'] });
    expect(workflow.jobs.ci.uses).toBe('./.github/workflows/ci.yml');
    expect(job.needs).toBe('ci');
  });

  it('assumes its AWS role through OIDC, from a repository variable', () => {
    expect(job.permissions?.['id-token']).toBe('write');
    const assume = steps.find((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@'));
    expect(assume?.with?.['role-to-assume']).toBe('${{ vars.AWS_DEPLOY_ROLE_ARN }}');
    expect(Object.keys(assume?.with ?? {})).not.toContain('aws-access-key-id');
  });

  it('pushes both images to ECR, then runs cdk deploy with this commit\'s image tag, then a CodeDeploy deployment', () => {
    const login = stepIndex(steps, /aws-actions\/amazon-ecr-login@/);
    const api = stepIndex(steps, /docker build -f deploy\/Dockerfile\.api[\s\S]*docker push/);
    const trainer = stepIndex(steps, /docker build -f deploy\/Dockerfile\.trainer [\s\S]*docker push/);
    const cdk = stepIndex(steps, /npm run deploy --prefix infra[\s\S]*trainyard:imageTag=\$IMAGE_TAG/);
    const codedeploy = stepIndex(steps, /aws deploy create-deployment[\s\S]*bundleType=zip[\s\S]*aws deploy wait deployment-successful/);
    for (const index of [login, api, trainer, cdk, codedeploy]) expect(index).toBeGreaterThanOrEqual(0);
    expect(login).toBeLessThan(api);
    expect(Math.max(api, trainer)).toBeLessThan(cdk);
    expect(cdk).toBeLessThan(codedeploy);
    expect(job.env?.IMAGE_TAG).toBe('${{ github.sha }}');
    // The revision is the repository itself: appspec.yml at its root.
    expect(steps[codedeploy].run).toMatch(/git archive --format=zip/);
    expect(steps[codedeploy].run).toMatch(/s3:\/\/\$OUT_BucketName\/\$key/);
  });

  it('reads the names it needs from outputs the stack has', () => {
    const stack = readFileSync(join(root, 'infra/lib/trainyard-stack.ts'), 'utf8');
    const used = new Set([...deploy.text.matchAll(/\$OUT_(\w+)/g)].map((m) => m[1]));
    expect(used.size).toBeGreaterThan(3);
    for (const output of used) expect(stack, `output ${output}`).toContain(`new CfnOutput(this, '${output}'`);
  });
});

describe('yamllint', () => {
  const available = spawnSync('yamllint', ['--version']).status === 0;
  it.skipIf(!available)('passes on the workflows and appspec.yml', () => {
    const result = spawnSync('yamllint', ['-c', '.github/yamllint.yml', '--strict', '.github', 'appspec.yml'], { cwd: root, encoding: 'utf8' });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
