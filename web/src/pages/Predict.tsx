import { useEffect, useState } from 'react';
import { Alert, Badge, Button, Card, Group, NumberInput, Progress, Select, SimpleGrid, Stack, Text, TextInput, Title } from '@mantine/core';
import { FINISHED, api, download, errorText, type InferenceJob, type ModelVersion, type PredictResult, type SignatureInput } from '../api.ts';
import { DataTable, LoadState, PageHeader, StatusBadge } from '../components/Common.tsx';
import { formatNumber, formatTime } from '../format.ts';
import { useLoad } from '../hooks.ts';
import { navigate, queryParam, usePath } from '../router.tsx';
import { previewRows } from './Dataset.tsx';

const isNumeric = (input: SignatureInput) => /int|float|double|number|numeric|real/i.test(input.type) && !input.categories;

function probabilityEntries(probabilities: unknown): [string, number][] {
  if (!probabilities || typeof probabilities !== 'object') return [];
  const entries = Array.isArray(probabilities) ? probabilities.map((p, i) => [String(i), Number(p)] as [string, number]) : Object.entries(probabilities as Record<string, number>).map(([k, v]) => [k, Number(v)] as [string, number]);
  return entries.sort((a, b) => b[1] - a[1]);
}

function Result({ result }: { result: PredictResult }) {
  const p = result.predictions[0];
  if (!p) return null;
  if ('value' in p)
    return (
      <Card withBorder data-testid="prediction">
        <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
          Prediction ({result.model} v{result.version})
        </Text>
        <Title order={2} data-testid="prediction-value">
          {formatNumber(p.value)}
        </Title>
      </Card>
    );
  const probs = probabilityEntries(p.probabilities);
  return (
    <Card withBorder data-testid="prediction">
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        Prediction ({result.model} v{result.version})
      </Text>
      {(
        <>
          <Group gap="sm" align="baseline">
            <Title order={2} data-testid="prediction-label">
              {String(p.label)}
            </Title>
            <Text c="dimmed">probability {formatNumber(p.probability, 3)}</Text>
          </Group>
          <Stack gap={6} mt="sm">
            {probs.map(([label, value]) => (
              <div key={label}>
                <Group justify="space-between">
                  <Text size="sm">{label}</Text>
                  <Text size="sm" c="dimmed">
                    {(value * 100).toFixed(1)}%
                  </Text>
                </Group>
                <Progress value={value * 100} aria-label={`Probability of ${label}`} />
              </div>
            ))}
          </Stack>
        </>
      )}
    </Card>
  );
}

function SinglePredict({ model, version, details }: { model: string; version: string | null; details: ModelVersion }) {
  const inputs = details.signature?.inputs ?? [];
  const [values, setValues] = useState<Record<string, string | number>>({});
  const [result, setResult] = useState<PredictResult>();
  const [error, setError] = useState<string>();
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    setValues({});
    setResult(undefined);
  }, [model, details.version]);

  const fillFromDataset = async () => {
    setError(undefined);
    try {
      const { headers, rows } = previewRows(await api.previewDataset(details.dataset_id, 50));
      if (!rows.length) return;
      const row = rows[Math.floor(Math.random() * rows.length)];
      const next: Record<string, string | number> = {};
      for (const input of inputs) {
        const cell = row[headers.indexOf(input.name)];
        if (cell !== null && cell !== undefined && cell !== '') next[input.name] = isNumeric(input) ? Number(cell) : String(cell);
      }
      setValues(next);
    } catch (err) {
      setError(errorText(err));
    }
  };

  const submit = async () => {
    setBusy(true);
    setError(undefined);
    setFieldErrors({});
    try {
      const row: Record<string, unknown> = {};
      for (const input of inputs) {
        const value = values[input.name];
        row[input.name] = value === undefined || value === '' ? null : isNumeric(input) ? Number(value) : value;
      }
      setResult(await api.predict(model, { inputs: [row] }, version ?? undefined));
    } catch (err) {
      setResult(undefined);
      setError(errorText(err));
      const problems = (err as { problem?: { errors?: { field: string; message: string }[] } }).problem?.errors ?? [];
      const byField: Record<string, string> = {};
      for (const p of problems) {
        const name = inputs.find((i) => p.field === i.name || p.field.endsWith(`.${i.name}`))?.name;
        if (name) byField[name] = p.message;
      }
      setFieldErrors(byField);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={3}>Predict one row</Title>
        <Button variant="default" onClick={fillFromDataset}>
          Fill from a training row
        </Button>
      </Group>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          void submit();
        }}
      >
        <SimpleGrid cols={{ base: 1, xs: 2, md: 3, lg: 4 }}>
          {inputs.map((input) =>
            input.categories ? (
              <Select key={input.name} label={input.name} data={input.categories} value={values[input.name] !== undefined ? String(values[input.name]) : null} onChange={(v) => setValues((s) => ({ ...s, [input.name]: v ?? '' }))} error={fieldErrors[input.name]} clearable />
            ) : isNumeric(input) ? (
              <NumberInput key={input.name} label={input.name} value={values[input.name] ?? ''} onChange={(v) => setValues((s) => ({ ...s, [input.name]: v }))} error={fieldErrors[input.name]} decimalScale={8} />
            ) : (
              <TextInput key={input.name} label={input.name} value={String(values[input.name] ?? '')} onChange={(e) => setValues((s) => ({ ...s, [input.name]: e.currentTarget.value }))} error={fieldErrors[input.name]} />
            ),
          )}
        </SimpleGrid>
        <Group mt="md">
          <Button type="submit" loading={busy}>
            Predict
          </Button>
        </Group>
      </form>
      {error && (
        <Alert color="red" role="alert" title="Prediction failed">
          {error}
        </Alert>
      )}
      {result && <Result result={result} />}
    </Stack>
  );
}

function BatchInference({ model, version }: { model: string; version: string | null }) {
  const datasets = useLoad(() => api.listDatasets({ limit: 200 }), []);
  const [dataset, setDataset] = useState<string | null>(null);
  const [started, setStarted] = useState<InferenceJob[]>([]);
  const [error, setError] = useState<string>();
  const jobs = useLoad(
    async () => {
      const page = await api.listInferenceJobs({ model, limit: 20 }).catch(() => ({ items: [] as InferenceJob[], next_cursor: null }));
      const refreshed = await Promise.all(started.filter((s) => !page.items.some((i) => i.id === s.id)).map((s) => api.getInferenceJob(s.id).catch(() => s)));
      return [...refreshed, ...page.items.filter((i) => i.model === model)];
    },
    [model, started],
    3000,
  );

  const run = async () => {
    if (!dataset) return;
    setError(undefined);
    try {
      const job = await api.createInferenceJob({ model, dataset, ...(version ? { version: Number(version) } : {}) });
      setStarted((s) => [job, ...s]);
    } catch (err) {
      setError(errorText(err));
    }
  };

  const items = jobs.data ?? [];
  return (
    <Stack>
      <Title order={3}>Batch inference</Title>
      <Group align="flex-end" wrap="wrap">
        <Select label="Dataset to score" searchable data={(datasets.data?.items ?? []).map((d) => ({ value: d.id, label: `${d.name} v${d.version} (${d.row_count} rows)` }))} value={dataset} onChange={setDataset} w={280} />
        <Button onClick={run} disabled={!dataset}>
          Run inference job
        </Button>
      </Group>
      {error && (
        <Alert color="red" role="alert">
          {error}
        </Alert>
      )}
      {items.length > 0 && (
        <DataTable
          caption="Inference jobs"
          minWidth={820}
          head={['Job', 'Status', 'Version', 'Dataset', 'Rows', 'Positive', 'By label', 'Created', 'Output']}
          rows={items.map((j) => [
            j.id,
            <StatusBadge status={j.status} />,
            j.version ? `v${j.version}` : '—',
            j.dataset,
            formatNumber(j.stats?.rows),
            j.stats?.positive_count !== undefined && j.stats?.positive_count !== null ? `${formatNumber(j.stats.positive_count)} (${formatNumber((j.stats.positive_rate ?? 0) * 100, 1)}%)` : '—',
            <Group gap={4}>
              {Object.entries(j.stats?.by_label ?? {}).map(([label, n]) => (
                <Badge key={label} variant="light">
                  {label}: {n}
                </Badge>
              ))}
            </Group>,
            formatTime(j.created_at),
            j.status === 'succeeded' ? (
              <Button size="compact-sm" variant="default" onClick={() => download(api.inferenceOutputUrl(j.id), `${j.id}-predictions.csv`).catch((e) => setError(errorText(e)))}>
                CSV
              </Button>
            ) : FINISHED.includes(j.status) ? (
              (j.error ?? '—')
            ) : (
              '…'
            ),
          ])}
        />
      )}
    </Stack>
  );
}

export function PredictPage() {
  const path = usePath();
  const model = queryParam(path, 'model');
  const version = queryParam(path, 'version');
  const models = useLoad(() => api.listModels({ limit: 200 }), []);
  const versions = useLoad(() => (model ? api.listVersions(model, { limit: 100 }) : Promise.resolve(undefined)), [model]);
  const sorted = [...(versions.data?.items ?? [])].sort((a, b) => b.version - a.version);
  const production = sorted.find((v) => v.aliases?.includes('production'));
  const details = version ? sorted.find((v) => String(v.version) === version) : (production ?? sorted[0]);

  const go = (m: string | null, v: string | null) => {
    const params = new URLSearchParams();
    if (m) params.set('model', m);
    if (v) params.set('version', v);
    navigate(`/predict${params.size ? `?${params}` : ''}`, true);
  };

  return (
    <Stack>
      <PageHeader title="Predict" description="Real-time predictions from a form generated from the version’s signature, and batch inference jobs over a dataset." />
      <Group align="flex-end" wrap="wrap">
        <Select label="Model" searchable data={(models.data?.items ?? []).map((m) => m.name)} value={model} onChange={(m) => go(m, null)} w={240} />
        <Select
          label="Version"
          data={[{ value: '', label: production ? `production (v${production.version})` : 'latest' }, ...sorted.map((v) => ({ value: String(v.version), label: `v${v.version}${v.aliases?.length ? ` (${v.aliases.join(', ')})` : ''}` }))]}
          value={version ?? ''}
          onChange={(v) => go(model, v || null)}
          w={220}
          disabled={!model}
          allowDeselect={false}
        />
      </Group>
      {model && (
        <LoadState loading={versions.loading} error={versions.error} empty={!versions.loading && sorted.length === 0 ? 'This model has no trained versions yet.' : undefined}>
          {details && (
            <>
              <SinglePredict model={model} version={version} details={details} />
              <BatchInference model={model} version={version} />
            </>
          )}
        </LoadState>
      )}
      {!model && <Text c="dimmed">Choose a model with at least one trained version.</Text>}
    </Stack>
  );
}
