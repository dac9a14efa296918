// Export for retraining: the prediction logs of a model over a time range become a new dataset
// version, the inputs as columns and the feedback labels (where they arrived) as the model's target
// column, ready for a training job (with `init_from`, from the version that served them). The parts are read twice, streamed both times:
// once for the columns (inputs can differ between versions), once to write the CSV, which goes
// through the same ingest as an upload (hash, types, profile, columnar copy), so nothing half-made
// is ever recorded. The bytes are staged under the dataset id the caller gives (the job's own), and
// become a dataset only when its row is recorded at the end.
import { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import type { Platform } from '../platform.ts';
import { discardStaged, recordDataset, stageUpload, type Dataset } from '../datasets/service.ts';
import { predictionLogPartHour, predictionLogPrefix } from '../store/blobs/keys.ts';
import { labelsBetween } from './store.ts';

/** Most input columns an export may have (the logs' distinct input names). */
export const MAX_EXPORT_COLUMNS = 2000;

export interface ExportRequest {
  model: string;
  /** The model's target column: where feedback labels go. */
  target: string;
  /** The new dataset's name (an existing name gets its next version). */
  name: string;
  /** The id to stage and record the dataset under. */
  datasetId: string;
  from: Date;
  to: Date;
}

export class ExportError extends Error {}

interface LogLine {
  time: string;
  request_id: string;
  row: number;
  inputs: Record<string, string | number | null>;
}

async function* logLines(platform: Platform, request: ExportRequest, signal: AbortSignal): AsyncGenerator<LogLine> {
  const fromHour = request.from.toISOString().slice(0, 13);
  const toHour = request.to.toISOString().slice(0, 13);
  const fromIso = request.from.toISOString();
  const toIso = request.to.toISOString();
  const keys = (await platform.blobs.list(predictionLogPrefix(request.model))).filter((key) => {
    const hour = predictionLogPartHour(key);
    return hour !== undefined && hour >= fromHour && hour <= toHour;
  });
  for (const key of keys) {
    if (signal.aborted) throw new ExportError(`export stopped (${String(signal.reason)})`);
    const lines = createInterface({ input: await platform.blobs.get(key), crlfDelay: Infinity });
    for await (const text of lines) {
      if (!text) continue;
      const line = JSON.parse(text) as LogLine;
      if (line.time >= fromIso && line.time < toIso) yield line;
    }
  }
}

function csvCell(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replaceAll('"', '""')}"` : text;
}

/** Writes the export as a dataset version; throws ExportError when there is nothing to export. */
export async function exportPredictionLogs(platform: Platform, request: ExportRequest, signal: AbortSignal, onProgress?: (rows: number) => void): Promise<Dataset> {
  const columns: string[] = [];
  const seen = new Set<string>();
  let rows = 0;
  for await (const line of logLines(platform, request, signal)) {
    rows++;
    for (const name of Object.keys(line.inputs)) {
      if (seen.has(name) || name === request.target) continue;
      if (seen.size >= MAX_EXPORT_COLUMNS) throw new ExportError(`the logs have more than ${MAX_EXPORT_COLUMNS} distinct input columns`);
      seen.add(name);
      columns.push(name);
    }
  }
  if (rows === 0) throw new ExportError(`no logged predictions of "${request.model}" between ${request.from.toISOString()} and ${request.to.toISOString()}`);
  const labels = await labelsBetween(platform.metadata, request.model, request.from.toISOString(), request.to.toISOString());

  async function* csv(): AsyncGenerator<Buffer> {
    yield Buffer.from([...columns, request.target].map(csvCell).join(',') + '\n');
    let written = 0;
    let batch: string[] = [];
    for await (const line of logLines(platform, request, signal)) {
      const label = labels.get(`${line.request_id}\u0000${line.row}`);
      batch.push([...columns.map((c) => csvCell(line.inputs[c])), csvCell(label)].join(','));
      if (batch.length >= 1000) {
        yield Buffer.from(batch.join('\n') + '\n');
        written += batch.length;
        batch = [];
        onProgress?.(written);
      }
    }
    if (batch.length > 0) yield Buffer.from(batch.join('\n') + '\n');
  }

  const staged = await stageUpload(platform, Readable.from(csv()), { delimiter: ',', expectedBytes: undefined, id: request.datasetId });
  if (signal.aborted) {
    await discardStaged(platform, staged);
    throw new ExportError(`export stopped (${String(signal.reason)})`);
  }
  // Discards the staged bytes itself when it cannot record them.
  return recordDataset(platform, staged, request.name);
}
