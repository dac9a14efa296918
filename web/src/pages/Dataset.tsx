import { useState } from 'react';
import { Alert, Badge, Button, Card, Group, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { api, download, errorText, type DatasetPreview } from '../api.ts';
import { DataTable, Histogram, LoadState, PageHeader, StatusBadge } from '../components/Common.tsx';
import { formatBytes, formatNumber, formatTime } from '../format.ts';
import { useLoad } from '../hooks.ts';
import { navigate } from '../router.tsx';

/** The preview as a header list and rows of cells, whether the API sends arrays or objects. */
export function previewRows(preview: DatasetPreview | undefined): { headers: string[]; rows: unknown[][] } {
  if (!preview) return { headers: [], rows: [] };
  const headers = (preview.columns as unknown[]).map((c) => (typeof c === 'string' ? c : String((c as { name?: unknown }).name)));
  const rows = (preview.rows as unknown[]).map((row) => (Array.isArray(row) ? row : headers.map((h) => (row as Record<string, unknown>)[h])));
  return { headers, rows };
}

function Stat({ label, value }: { label: string; value: string }) {
  return (
    <Card withBorder padding="sm">
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      <Text fw={600} size="lg">
        {value}
      </Text>
    </Card>
  );
}

const isNumericType = (type: string) => /int|float|double|number|numeric|real|decimal/i.test(type);

export function DatasetPage({ id }: { id: string }) {
  const dataset = useLoad(() => api.getDataset(id), [id]);
  const preview = useLoad(() => api.previewDataset(id, 500), [id]);
  const [error, setError] = useState<string>();
  const d = dataset.data;
  const { headers, rows } = previewRows(preview.data);

  const remove = async () => {
    if (!d || !window.confirm(`Delete dataset ${d.name} v${d.version}?`)) return;
    try {
      await api.deleteDataset(d.id);
      navigate('/datasets');
    } catch (err) {
      setError(errorText(err));
    }
  };

  return (
    <LoadState loading={dataset.loading} error={dataset.error}>
      {d && (
        <Stack>
          <PageHeader
            title={
              <Group gap="xs">
                {d.name} <Badge variant="outline">v{d.version}</Badge> <StatusBadge status={d.status} />
              </Group>
            }
            description={`${d.id} · uploaded ${formatTime(d.created_at)} · sha256 ${d.sha256.slice(0, 16)}…`}
          >
            <Button variant="default" onClick={() => download(api.datasetContentUrl(d.id), `${d.name}-v${d.version}.csv`).catch((e) => setError(errorText(e)))}>
              Download CSV
            </Button>
            <Button component="a" href={`/models/new?dataset=${encodeURIComponent(d.id)}`} onClick={(e) => { e.preventDefault(); navigate(`/models/new?dataset=${encodeURIComponent(d.id)}`); }}>
              Define a model
            </Button>
            <Button color="red" variant="light" onClick={remove}>
              Delete
            </Button>
          </PageHeader>
          {error && (
            <Alert color="red" role="alert">
              {error}
            </Alert>
          )}
          <SimpleGrid cols={{ base: 2, sm: 4 }}>
            <Stat label="Rows" value={formatNumber(d.row_count)} />
            <Stat label="Columns" value={String(d.columns.length)} />
            <Stat label="Size" value={formatBytes(d.size_bytes)} />
            <Stat label="Format" value={d.format} />
          </SimpleGrid>
          <Title order={3}>Profile</Title>
          <DataTable
            caption="Column profile"
            minWidth={860}
            head={['Column', 'Type', 'Missing', 'Distinct', 'Min', 'Max', 'Mean', 'Std', 'Distribution']}
            rows={d.columns.map((c) => {
              const index = headers.indexOf(c.name);
              const values = index >= 0 && isNumericType(c.type) ? rows.map((r) => r[index]).filter((cell) => cell !== null && cell !== undefined && cell !== '').map(Number).filter((v) => Number.isFinite(v)) : [];
              return [
                <Text fw={500} size="sm">{c.name}</Text>,
                <Badge variant="light" color={isNumericType(c.type) ? 'blue' : 'grape'}>{c.type}</Badge>,
                formatNumber(c.missing_count),
                formatNumber(c.distinct_count),
                formatNumber(c.min),
                formatNumber(c.max),
                formatNumber(c.mean),
                formatNumber(c.std),
                isNumericType(c.type) ? (
                  <Histogram values={values} min={typeof c.min === 'number' ? c.min : undefined} max={typeof c.max === 'number' ? c.max : undefined} label={c.name} />
                ) : (
                  ''
                ),
              ];
            })}
          />
          <Text size="xs" c="dimmed">
            Histograms are drawn from the first {rows.length} rows.
          </Text>
          <Title order={3}>Preview</Title>
          <LoadState loading={preview.loading} error={preview.error}>
            <DataTable caption="Preview rows" minWidth={Math.max(600, headers.length * 110)} head={headers} rows={rows.slice(0, 20).map((r) => r.map((cell) => (cell === null || cell === undefined ? '' : String(cell))))} />
          </LoadState>
        </Stack>
      )}
    </LoadState>
  );
}
