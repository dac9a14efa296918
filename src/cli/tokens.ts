// `trainyard tokens create|list|revoke`: API token management straight against the database
// (TRAINYARD_DATABASE_URL, migrated first), so the first admin token can be made on the server
// host before any token exists. The secret goes to stdout once (for `$(…)` capture); notes go to
// stderr. Over HTTP the same is POST/GET/DELETE /v1/tokens with an admin token.
import { Command, Option } from 'commander';
import { loadConfig } from '../config.ts';
import { TrainyardError } from '../errors.ts';
import { type MetadataStore } from '../store/metadata/metadata-store.ts';
import { openConfiguredStore } from '../store/metadata/open-metadata-store.ts';
import { migrateToLatest } from '../store/metadata/migrate.ts';
import { SCOPES, createToken, listTokens, revokeToken, type TokenInfo } from '../auth/tokens.ts';

export interface TokensIO {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: Record<string, string | undefined>;
  exit(code: number): void;
}

const processIO: TokensIO = {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  exit: (code) => {
    process.exitCode = code;
  },
};

async function withStore<T>(io: TokensIO, run: (store: MetadataStore) => Promise<T>): Promise<T | undefined> {
  const store = await openConfiguredStore(loadConfig(io.env));
  try {
    await migrateToLatest(store);
    return await run(store);
  } catch (error) {
    if (!(error instanceof TrainyardError)) throw error;
    io.stderr.write(`trainyard: ${error.message}\n`);
    io.exit(error.status === 404 ? 4 : 1);
    return undefined;
  } finally {
    await store.close();
  }
}

function table(rows: TokenInfo[]): string {
  const header = ['ID', 'NAME', 'SCOPE', 'CREATED', 'LAST USED', 'REVOKED'];
  const cells = rows.map((t) => [t.id, t.name, t.scope, t.created_at, t.last_used_at ?? '-', t.revoked_at ?? '-']);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  return [header, ...cells].map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

export function tokensCommand(io: TokensIO = processIO): Command {
  const tokens = new Command('tokens').description('Create, list and revoke API tokens (directly in TRAINYARD_DATABASE_URL)');

  tokens
    .command('create')
    .description('Create a token and print it once to stdout (only its hash is stored)')
    .requiredOption('--name <name>', 'a name unique among active tokens, e.g. ci-deploy')
    .addOption(new Option('--scope <scope>', 'read: GET routes; write: + create/train/predict/cancel; admin: everything').choices([...SCOPES]).makeOptionMandatory())
    .option('--json', 'print {id, name, scope, token, created_at} as JSON instead')
    .action(async (options: { name: string; scope: string; json?: boolean }) => {
      await withStore(io, async (store) => {
        const created = await createToken(store.db, { name: options.name, scope: options.scope });
        const { id, name, scope, token, created_at } = created;
        io.stdout.write(options.json ? `${JSON.stringify({ id, name, scope, token, created_at }, null, 2)}\n` : `${token}\n`);
        io.stderr.write(
          `created ${scope} token "${name}" (${id}). Store it now: it is not shown again and cannot be recovered.\n` +
            `use it as: Authorization: Bearer <token>  (CLI: export TRAINYARD_TOKEN=<token>)\n`,
        );
      });
    });

  tokens
    .command('list')
    .description('List tokens (never their secrets), newest first')
    .option('--json', 'print JSON')
    .option('--active', 'only tokens that are not revoked')
    .action(async (options: { json?: boolean; active?: boolean }) => {
      await withStore(io, async (store) => {
        const rows = (await listTokens(store.db)).filter((t) => !options.active || t.revoked_at === null);
        io.stdout.write(options.json ? `${JSON.stringify(rows, null, 2)}\n` : rows.length ? table(rows) : 'no tokens\n');
      });
    });

  tokens
    .command('revoke')
    .description('Revoke a token by id, or every active token with that name')
    .argument('<id-or-name>')
    .action(async (idOrName: string) => {
      await withStore(io, async (store) => {
        const revoked = await revokeToken(store.db, idOrName);
        for (const t of revoked) io.stdout.write(`revoked ${t.id} (${t.name}, ${t.scope}) at ${t.revoked_at}\n`);
        io.stderr.write('running servers stop accepting it within a few seconds (their verification cache; docs/auth.md)\n');
      });
    });

  return tokens;
}
