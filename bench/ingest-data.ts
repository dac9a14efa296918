// The benchmark's input: a deterministic 1,000,000-row × 32-column CSV (~250 MB) of the kind a
// tabular training set has: an id, 28 float features (some missing), a category, a flag and a label.
import { createWriteStream, existsSync, statSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { once } from 'node:events';

export const DEFAULT_ROWS = 1_000_000;

function header(): string {
  const names = ['id'];
  for (let k = 1; k <= 28; k++) names.push(`f${String(k).padStart(2, '0')}`);
  names.push('category', 'flag', 'label');
  return names.join(',') + '\n';
}

/** Writes the file unless it already exists with content; returns its path. */
export async function ensureBenchCsv(path: string, rows = DEFAULT_ROWS): Promise<string> {
  if (existsSync(path) && statSync(path).size > 0) return path;
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  const out = createWriteStream(tmp);
  let seed = 42;
  const random = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 4294967296;
  };
  const categories = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'];
  let buffer = header();
  for (let r = 0; r < rows; r++) {
    let line = String(r);
    for (let k = 0; k < 28; k++) {
      const u = random();
      if (u < 0.005) line += ',';
      else if (k % 4 === 0) line += ',' + Math.floor(u * 100000);
      else line += ',' + ((u - 0.5) * 200).toFixed(k % 3 === 0 ? 3 : 5);
    }
    line += ',' + categories[Math.floor(random() * categories.length)];
    line += random() < 0.5 ? ',true' : ',false';
    line += random() < 0.3 ? ',1\n' : ',0\n';
    buffer += line;
    if (buffer.length > 1 << 20) {
      if (!out.write(buffer)) await once(out, 'drain');
      buffer = '';
    }
  }
  out.write(buffer);
  out.end();
  await once(out, 'finish');
  await rename(tmp, path);
  return path;
}
