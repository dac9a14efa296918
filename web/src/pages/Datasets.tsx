import { useRef, useState, type DragEvent } from 'react';
import { Alert, Button, Card, Group, Progress, Stack, Text, TextInput } from '@mantine/core';
import { api, errorText, uploadWithProgress, type Dataset, type ImportJob } from '../api.ts';
import { DataTable, LoadState, PageHeader, StatusBadge } from '../components/Common.tsx';
import { formatBytes, formatNumber, formatTime } from '../format.ts';
import { useLoad } from '../hooks.ts';
import { Link, navigate } from '../router.tsx';

function Upload({ onUploaded }: { onUploaded: (dataset: Dataset) => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState('');
  const [active, setActive] = useState(false);
  const [progress, setProgress] = useState<{ loaded: number; total: number } | null>(null);
  const [error, setError] = useState<string>();
  const controller = useRef<AbortController | null>(null);

  const choose = (chosen: File | undefined | null) => {
    if (!chosen) return;
    setFile(chosen);
    setError(undefined);
    setName(chosen.name.replace(/\.[^.]+$/, ''));
  };
  const onDrop = (event: DragEvent<HTMLDivElement>) => {
    event.preventDefault();
    setActive(false);
    choose(event.dataTransfer.files?.[0]);
  };
  const start = async () => {
    if (!file) return;
    setError(undefined);
    setProgress({ loaded: 0, total: file.size });
    controller.current = new AbortController();
    try {
      const dataset = (await uploadWithProgress(file, name || file.name, setProgress, controller.current.signal)) as Dataset;
      setFile(null);
      setName('');
      onUploaded(dataset);
    } catch (err) {
      setError((err as Error).name === 'AbortError' ? 'Upload cancelled.' : errorText(err));
    } finally {
      setProgress(null);
      controller.current = null;
    }
  };
  const percent = progress && progress.total ? Math.round((progress.loaded / progress.total) * 100) : 0;

  return (
    <Card withBorder>
      <Stack>
        <div
          className="dropzone"
          data-active={active}
          role="button"
          tabIndex={0}
          aria-label="Drop a CSV, Parquet or JSON Lines file here, or press to choose one"
          onClick={() => input.current?.click()}
          onKeyDown={(e) => (e.key === 'Enter' || e.key === ' ') && input.current?.click()}
          onDragOver={(e) => {
            e.preventDefault();
            setActive(true);
          }}
          onDragLeave={() => setActive(false)}
          onDrop={onDrop}
        >
          <Text fw={500}>{file ? file.name : 'Drop a CSV, Parquet or JSON Lines file here'}</Text>
          <Text size="sm" c="dimmed">
            {file ? formatBytes(file.size) : 'or click to choose one — it is streamed to the server'}
          </Text>
          <input ref={input} type="file" accept=".csv,text/csv,.parquet,.pq,application/vnd.apache.parquet,.jsonl,.ndjson,application/x-ndjson" hidden aria-label="Data file (CSV, Parquet or JSON Lines)" data-testid="dataset-file" onChange={(e) => choose(e.currentTarget.files?.[0])} />
        </div>
        <Group align="flex-end" wrap="wrap">
          <TextInput label="Dataset name" description="The same name again makes a new version" value={name} onChange={(e) => setName(e.currentTarget.value)} style={{ flex: 1, minWidth: 200 }} />
          {progress ? (
            <Button variant="default" onClick={() => controller.current?.abort()}>
              Cancel
            </Button>
          ) : (
            <Button onClick={start} disabled={!file}>
              Upload
            </Button>
          )}
        </Group>
        {progress && (
          <Stack gap={4}>
            <Progress value={percent} aria-label="Upload progress" animated={percent >= 100} />
            <Text size="xs" c="dimmed">
              {percent < 100 ? `${formatBytes(progress.loaded)} of ${formatBytes(progress.total)} (${percent}%)` : 'Uploaded; profiling the columns…'}
            </Text>
          </Stack>
        )}
        {error && (
          <Alert color="red" title="Upload failed" role="alert">
            {error}
          </Alert>
        )}
      </Stack>
    </Card>
  );
}

const FINISHED = ['succeeded', 'failed', 'cancelled'];

/** Starts an import from S3 (the server reads the objects with its own credentials) and follows it to its end. */
function Import({ onImported }: { onImported: (datasetId: string) => void }) {
  const [url, setUrl] = useState('');
  const [name, setName] = useState('');
  const [job, setJob] = useState<ImportJob | null>(null);
  const [error, setError] = useState<string>();
  const running = job !== null && !FINISHED.includes(job.status);

  const start = async () => {
    setError(undefined);
    try {
      let current = await api.importDataset({ name, url });
      setJob(current);
      while (!FINISHED.includes(current.status)) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        current = await api.getImportJob(current.id);
        setJob(current);
      }
      if (current.status === 'succeeded' && current.result) onImported(current.result.dataset_id);
    } catch (err) {
      setError(errorText(err));
    }
  };
  const cancel = async () => {
    if (job) setJob(await api.cancelImportJob(job.id).catch(() => job));
  };
  const progress = job?.progress;
  const percent = progress?.bytes_total ? Math.round((progress.bytes_done / progress.bytes_total) * 100) : 0;

  return (
    <Card withBorder>
      <Stack>
        <Text fw={500}>Import from S3</Text>
        <Text size="sm" c="dimmed">
          One object (s3://bucket/key.parquet), a prefix (s3://bucket/prefix/) or a glob (s3://bucket/folder/*.parquet). The server reads it with its own credentials, only where its TRAINYARD_IMPORT_ALLOW allows.
        </Text>
        <Group align="end">
          <TextInput label="S3 URL" placeholder="s3://bucket/events/2026/*.parquet" value={url} onChange={(e) => setUrl(e.currentTarget.value)} style={{ flex: 2 }} />
          <TextInput label="Name of the imported dataset" value={name} onChange={(e) => setName(e.currentTarget.value)} style={{ flex: 1 }} />
          <Button onClick={() => void start()} disabled={!url || !name || running}>
            Import
          </Button>
          {running && (
            <Button variant="default" onClick={() => void cancel()}>
              Cancel
            </Button>
          )}
        </Group>
        {job && (
          <Stack gap={4} aria-live="polite">
            <Group gap="xs">
              <StatusBadge status={job.status} />
              <Text size="sm">
                {progress ? `${progress.files_done} of ${progress.files_total ?? '?'} objects, ${formatBytes(progress.bytes_done)}${progress.bytes_total ? ` of ${formatBytes(progress.bytes_total)}` : ''}` : 'queued'}
              </Text>
            </Group>
            {running && progress?.bytes_total ? <Progress value={percent} aria-label="Import progress" /> : null}
            {job.error && <Alert color="red" title="The import failed">{job.error}</Alert>}
          </Stack>
        )}
        {error && (
          <Alert color="red" title="The import was refused">
            {error}
          </Alert>
        )}
      </Stack>
    </Card>
  );
}

export function DatasetsPage() {
  const list = useLoad(() => api.listDatasets({ limit: 100 }), []);
  const items = list.data?.items ?? [];
  return (
    <Stack>
      <PageHeader title="Datasets" description="Tabular training data (CSV, Parquet, JSON Lines). Each upload is profiled: types, missing values, ranges." />
      <Upload onUploaded={(dataset) => navigate(`/datasets/${encodeURIComponent(dataset.id)}`)} />
      <Import onImported={(id) => navigate(`/datasets/${encodeURIComponent(id)}`)} />
      <LoadState loading={list.loading} error={list.error} empty={!list.loading && items.length === 0 ? 'No datasets yet: upload a file above.' : undefined}>
        {items.length > 0 && (
          <DataTable
            caption="Datasets"
            head={['Name', 'Version', 'Status', 'Rows', 'Columns', 'Size', 'Created']}
            rows={items.map((d) => [
              <Link href={`/datasets/${encodeURIComponent(d.id)}`}>{d.name}</Link>,
              `v${d.version}`,
              <StatusBadge status={d.status} />,
              formatNumber(d.row_count),
              d.column_count ?? '—',
              formatBytes(d.size_bytes),
              formatTime(d.created_at),
            ])}
          />
        )}
      </LoadState>
    </Stack>
  );
}
