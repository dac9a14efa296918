import { useRef, useState, type DragEvent } from 'react';
import { Alert, Button, Card, Group, Progress, Stack, Text, TextInput } from '@mantine/core';
import { api, errorText, uploadWithProgress, type Dataset } from '../api.ts';
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

export function DatasetsPage() {
  const list = useLoad(() => api.listDatasets({ limit: 100 }), []);
  const items = list.data?.items ?? [];
  return (
    <Stack>
      <PageHeader title="Datasets" description="Tabular training data (CSV, Parquet, JSON Lines). Each upload is profiled: types, missing values, ranges." />
      <Upload onUploaded={(dataset) => navigate(`/datasets/${encodeURIComponent(dataset.id)}`)} />
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
