// The dashboard's connection to the API: the shared typed client (src/client, also used by the
// CLI), a Bearer token kept in this page's memory only (never Web Storage, where any script on the
// origin could read it and it would outlive the page), and a prompt when the API answers 401.
import { ApiError, TrainyardClient, UnreachableError } from '../../src/client/index.ts';

export * from '../../src/client/index.ts';

let token: string | null = null;
type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();

export function getToken(): string | null {
  return token;
}

export function setToken(value: string | null): void {
  token = value || null;
}

export function onUnauthorized(listener: Listener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

export const api = new TrainyardClient({
  baseUrl: '',
  token: getToken,
  onUnauthorized: () => {
    for (const listener of unauthorizedListeners) listener();
  },
});

/** A short message for an error, for notifications and alerts. */
export function errorText(error: unknown): string {
  if (error instanceof ApiError) {
    const fields = error.fieldMessages();
    return fields.length ? `${error.problem.detail} — ${fields.join('; ')}` : error.problem.detail || error.problem.title;
  }
  if (error instanceof UnreachableError) return `Cannot reach the Trainyard API (${error.reason}).`;
  return error instanceof Error ? error.message : String(error);
}

/** Downloads a URL of the API with the token (a plain link cannot send an Authorization header). */
export async function download(url: string, filename: string): Promise<void> {
  const path = url.startsWith('http') ? new URL(url).pathname + new URL(url).search : url;
  const response = await api.fetch('GET', path, { headers: { accept: '*/*' } });
  const blob = await response.blob();
  const href = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = href;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
}

export interface UploadProgress {
  loaded: number;
  total: number;
}

/** Uploads a file with XMLHttpRequest, whose upload events give a real progress bar. */
/** The upload's content type from the file name: Parquet (.parquet, .pq), JSON Lines (.jsonl, .ndjson), else CSV. */
export function uploadContentType(filename: string): string {
  const lower = filename.toLowerCase();
  if (/\.(parquet|pq)$/.test(lower)) return 'application/vnd.apache.parquet';
  if (/\.(jsonl|ndjson)$/.test(lower)) return 'application/x-ndjson';
  return 'text/csv';
}

export function uploadWithProgress(file: File, name: string, onProgress: (p: UploadProgress) => void, signal?: AbortSignal): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/v1/datasets?name=${encodeURIComponent(name)}`);
    xhr.setRequestHeader('content-type', uploadContentType(file.name));
    xhr.setRequestHeader('accept', 'application/json');
    const token = getToken();
    if (token) xhr.setRequestHeader('authorization', `Bearer ${token}`);
    xhr.upload.onprogress = (event) => onProgress({ loaded: event.loaded, total: event.lengthComputable ? event.total : file.size });
    xhr.onerror = () => reject(new UnreachableError(location.origin, 'the connection failed'));
    xhr.onabort = () => reject(new DOMException('upload cancelled', 'AbortError'));
    xhr.onload = () => {
      let body: unknown;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = undefined;
      }
      if (xhr.status >= 200 && xhr.status < 300) return resolve(body);
      const problem = body && typeof body === 'object' && 'status' in body
        ? (body as ApiError['problem'])
        : { type: 'about:blank', title: xhr.statusText, status: xhr.status, detail: xhr.responseText.slice(0, 300) || xhr.statusText, code: `HTTP_${xhr.status}`, errors: [] };
      const error = new ApiError(xhr.status, { ...problem, errors: problem.errors ?? [] });
      if (xhr.status === 401) for (const listener of unauthorizedListeners) listener();
      reject(error);
    };
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(file);
  });
}
