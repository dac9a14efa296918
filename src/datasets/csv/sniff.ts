// Delimiter sniffing: among `,` `;` TAB `|`, the one that splits the first lines (up to 64 KiB,
// quote-aware) into the same number of fields, more than one, on every line; the most fields wins.
// When none is consistent, the one occurring most often in the header line; when none occurs, `,`.

export const SNIFF_CANDIDATES = [',', ';', '\t', '|'] as const;
const CODES = SNIFF_CANDIDATES.map((c) => c.charCodeAt(0));
const MAX_LINES = 50;

/** `complete`: the bytes are the whole file, so a last line without a line break counts. */
export function sniffDelimiter(bytes: Uint8Array, complete: boolean): string {
  const lines: number[][] = [];
  let counts = [0, 0, 0, 0];
  let inQuote = false;
  let lineHasContent = false;
  for (let i = 0; i < bytes.length && lines.length < MAX_LINES; i++) {
    const b = bytes[i];
    if (b === 34) {
      inQuote = !inQuote;
      lineHasContent = true;
    } else if (!inQuote && (b === 10 || b === 13)) {
      if (lineHasContent) lines.push(counts);
      counts = [0, 0, 0, 0];
      lineHasContent = false;
    } else {
      lineHasContent = true;
      if (!inQuote) {
        for (let k = 0; k < 4; k++) if (b === CODES[k]) counts[k]++;
      }
    }
  }
  if (complete && lineHasContent && !inQuote && lines.length < MAX_LINES) lines.push(counts);
  if (lines.length === 0) return ',';
  let best = -1;
  let bestFields = 0;
  for (let k = 0; k < 4; k++) {
    const first = lines[0][k];
    if (first === 0) continue;
    if (lines.length > 1 && lines.some((line) => line[k] !== first)) continue;
    if (first > bestFields) {
      best = k;
      bestFields = first;
    }
  }
  if (best >= 0) return SNIFF_CANDIDATES[best];
  let most = -1;
  for (let k = 0; k < 4; k++) {
    if (lines[0][k] > 0 && (most < 0 || lines[0][k] > lines[0][most])) most = k;
  }
  return most >= 0 ? SNIFF_CANDIDATES[most] : ',';
}
