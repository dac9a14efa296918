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
  environment?: string;
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

  it('pins every action to a commit SHA, with the version it is in a comment', () => {
    let pinned = 0;
    for (const job of Object.values(workflow.jobs)) {
      for (const step of job.steps ?? []) {
        if (!step.uses) continue;
        expect(step.uses, step.uses).toMatch(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/);
        pinned++;
      }
    }
    expect(pinned).toBeGreaterThan(0);
    // A tag can be moved to other code; a SHA cannot. The comment says which release it is.
    for (const line of text.split('\n').filter((l) => /^\s*(-\s+)?uses:\s+[\w-][\w.-]*\//.test(l))) {
      expect(line, line).toMatch(/@[0-9a-f]{40} # v\d+(\.\d+)*$/);
    }
  });

  it('never tags or runs an image as latest', () => {
    expect(text).not.toMatch(/:latest\b|latest-cuda|imageTag=latest/);
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
    // shellcheck on every script and yamllint on the workflows, failing when either is missing.
    expect(stepIndex(steps, /scripts\/lint-shell\.sh --require/)).toBeGreaterThanOrEqual(0);
  });

  it('checks out the whole history (the migration check reads the previous release)', () => {
    expect(steps[0].uses).toMatch(/^actions\/checkout@/);
    expect(steps[0].with?.['fetch-depth']).toBe(0);
  });

  it('builds the CUDA trainer image when the stack has GPU training', () => {
    const images = workflow.jobs.images.steps ?? [];
    const cuda = images.find((s) => /docker build -f deploy\/Dockerfile\.trainer-cuda/.test(s.run ?? ''));
    expect(cuda?.if).toBe("vars.TRAINYARD_GPU == 'true'");
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
    expect(job.needs).toEqual(['ci', 'bundle']);
  });

  it('assumes its AWS role through OIDC, from a repository variable', () => {
    expect(job.permissions?.['id-token']).toBe('write');
    const assume = steps.find((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@'));
    expect(assume?.with?.['role-to-assume']).toBe('${{ vars.AWS_DEPLOY_ROLE_ARN }}');
    expect(Object.keys(assume?.with ?? {})).not.toContain('aws-access-key-id');
  });

  it('pushes the images, checks migrations, moves only the migrate job to the new image, migrates, then switches, then CodeDeploy', () => {
    const login = stepIndex(steps, /aws-actions\/amazon-ecr-login@/);
    const images = stepIndex(steps, /push_once "\$OUT_ApiRepositoryUri" "\$IMAGE_TAG"[\s\S]*push_once "\$OUT_TrainerRepositoryUri" "\$IMAGE_TAG"/);
    const compat = stepIndex(steps, /TRAINYARD_PREVIOUS_RELEASE="\$OUT_ImageTag" npx vitest run test\/deploy\/migrations-compat\.test\.ts/);
    const phase1 = stepIndex(steps, /trainyard:imageTag=\$\{OUT_ImageTag:-\$IMAGE_TAG\}[\s\S]*trainyard:migrateImageTag=\$IMAGE_TAG/);
    const migrate = stepIndex(steps, /aws batch submit-job[\s\S]*\$OUT_MigrateJobDefinitionName[\s\S]*wait-batch-job\.sh/);
    const phase2 = steps.findIndex((s, i) => i > migrate && /npm run deploy --prefix infra[\s\S]*trainyard:imageTag=\$IMAGE_TAG"/.test(s.run ?? '') && !/migrateImageTag/.test(s.run ?? ''));
    const codedeploy = stepIndex(steps, /aws deploy create-deployment[\s\S]*bundleType=zip[\s\S]*aws deploy wait deployment-successful/);
    const order = [login, images, compat, phase1, migrate, phase2, codedeploy];
    for (const index of order) expect(index).toBeGreaterThanOrEqual(0);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(job.env?.IMAGE_TAG).toBe('${{ github.sha }}');
    expect(steps[0].with?.['fetch-depth']).toBe(0);
  });

  it('deploys the revision the bundle job built once (with node_modules, on Amazon Linux), not a fresh archive', () => {
    const bundle = workflow.jobs.bundle;
    expect(bundle.needs).toBe('ci');
    expect(job.needs).toEqual(['ci', 'bundle']);
    const build = (bundle.steps ?? []).find((s) => /build-revision\.sh/.test(s.run ?? ''));
    expect(build?.run).toMatch(/amazonlinux:2023/);
    expect(build?.run).toMatch(/git archive/);
    const upload = (bundle.steps ?? []).find((s) => s.uses?.startsWith('actions/upload-artifact@'));
    const download = steps.find((s) => s.uses?.startsWith('actions/download-artifact@'));
    expect(download?.with?.name).toBe(upload?.with?.name);
    const codedeploy = steps[stepIndex(steps, /aws deploy create-deployment/)].run ?? '';
    expect(codedeploy).toMatch(/aws s3 cp "\$RUNNER_TEMP\/revision\/revision\.zip" "s3:\/\/\$OUT_BucketName\/\$key"/);
    expect(codedeploy).not.toMatch(/git archive|npm ci/);
    const script = readFileSync(join(root, 'deploy/build-revision.sh'), 'utf8');
    expect(script).toMatch(/npm ci --omit=dev --ignore-scripts/);
    expect(script).toMatch(/npm rebuild better-sqlite3/);
  });

  it('reads the names it needs from outputs the stack has', () => {
    const stack = readFileSync(join(root, 'infra/lib/trainyard-stack.ts'), 'utf8');
    const used = new Set([...deploy.text.matchAll(/\$\{?OUT_(\w+)/g)].map((m) => m[1]));
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
