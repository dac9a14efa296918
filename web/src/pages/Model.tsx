import { useState } from 'react';
import { Alert, Badge, Button, Card, Group, Menu, Select, Stack, Text, TextInput, Title } from '@mantine/core';
import { api, download, errorText, type Model, type ModelVersion } from '../api.ts';
import { DataTable, LoadState, PageHeader } from '../components/Common.tsx';
import { flatMetrics, formatBytes, formatNumber, formatTime, pickMetrics } from '../format.ts';
import { useLoad } from '../hooks.ts';
import { Link, navigate } from '../router.tsx';
import { ModelMonitoring } from './Monitoring.tsx';

function shapeText(shape: unknown): string {
  if (shape === undefined || shape === null) return '—';
  if (typeof shape === 'object' && !Array.isArray(shape)) {
    const s = shape as Record<string, unknown>;
    if ('output' in s) return JSON.stringify(s.output);
    if ('out' in s) return JSON.stringify(s.out);
  }
  return JSON.stringify(shape);
}

function shapeParams(shape: unknown): string {
  if (shape && typeof shape === 'object' && !Array.isArray(shape) && 'parameters' in shape) {
    const parameters = (shape as { parameters: unknown }).parameters;
    return typeof parameters === 'number' ? formatNumber(parameters) : 'depends on the data';
  }
  return '';
}

function Layers({ model }: { model: Model }) {
  const shapes = Array.isArray(model.shapes) ? model.shapes : [];
  const hasParams = shapes.some((s) => shapeParams(s) !== '');
  return (
    <DataTable
      caption="Layers"
      head={['#', 'Layer', 'Arguments', 'Output shape', ...(hasParams ? ['Parameters'] : [])]}
      rows={model.layers.map((layer, i) => {
        const { type, ...args } = layer;
        return [
          i,
          <Text fw={500} size="sm">{type}</Text>,
          <Text size="sm" ff="monospace">{Object.entries(args).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ') || '—'}</Text>,
          <Text size="sm" ff="monospace">{shapes.length ? shapeText(shapes[i]) : 'inferred at training'}</Text>,
          ...(hasParams ? [shapeParams(shapes[i])] : []),
        ];
      })}
    />
  );
}

function Versions({ model, versions, onChange }: { model: Model; versions: ModelVersion[]; onChange: () => void }) {
  const [alias, setAlias] = useState('production');
  const [version, setVersion] = useState<string | null>(versions[0] ? String(versions[0].version) : null);
  const [error, setError] = useState<string>();
  const [saving, setSaving] = useState(false);
  const flats = versions.map((v) => flatMetrics(v.metrics));
  const names = pickMetrics([...new Set(flats.flatMap((f) => Object.keys(f)))], 6);

  const saveAlias = async () => {
    if (!version || !alias) return;
    setSaving(true);
    setError(undefined);
    try {
      await api.setAlias(model.name, alias, Number(version));
      onChange();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setSaving(false);
    }
  };

  return (
    <Stack>
      <DataTable
        caption="Versions"
        minWidth={700 + names.length * 90}
        head={['Version', 'Aliases', ...names, 'Trained by', 'Started from', 'Created', 'Artifacts']}
        rows={versions.map((v, i) => [
          <Text fw={600}>v{v.version}</Text>,
          <Group gap={4}>{(v.aliases ?? []).map((a) => <Badge key={a} variant="light" color="teal">{a}</Badge>)}</Group>,
          ...names.map((n) => formatNumber(flats[i][n])),
          <Link href={`/jobs/${encodeURIComponent(v.training_job_id)}`}>{v.training_job_id}</Link>,
          v.init_from ? (
            <Link href={`/models/${encodeURIComponent(v.init_from.model)}`}>
              {v.init_from.model} v{v.init_from.version}
            </Link>
          ) : (
            <Text c="dimmed">scratch</Text>
          ),
          formatTime(v.created_at),
          <Menu position="bottom-end" withinPortal>
            <Menu.Target>
              <Button size="compact-sm" variant="default" aria-label={`Download artifacts of version ${v.version}`}>
                Download
              </Button>
            </Menu.Target>
            <Menu.Dropdown>
              {(v.artifacts ?? []).map((a) => (
                <Menu.Item key={a.name} onClick={() => download(api.artifactUrl(model.name, v.version, a.name), `${model.name}-v${v.version}-${a.name}`).catch((e) => setError(errorText(e)))}>
                  {a.name} <Text span c="dimmed" size="xs">({formatBytes(a.size_bytes)})</Text>
                </Menu.Item>
              ))}
            </Menu.Dropdown>
          </Menu>,
        ])}
      />
      <Card withBorder>
        <Title order={4} mb="xs">
          Aliases
        </Title>
        <Text size="sm" c="dimmed" mb="sm">
          Point an alias at a version; setting an existing alias moves it. Predictions without a version use <code>production</code>, else the latest version.
        </Text>
        <Group align="flex-end" wrap="wrap">
          <TextInput label="Alias" value={alias} onChange={(e) => setAlias(e.currentTarget.value)} w={180} />
          <Select label="Version" data={versions.map((v) => ({ value: String(v.version), label: `v${v.version}` }))} value={version} onChange={setVersion} w={140} allowDeselect={false} />
          <Button onClick={saveAlias} loading={saving} disabled={!alias || !version}>
            Set alias
          </Button>
        </Group>
        {error && (
          <Alert color="red" mt="sm" role="alert">
            {error}
          </Alert>
        )}
      </Card>
    </Stack>
  );
}

export function ModelPage({ name }: { name: string }) {
  const model = useLoad(() => api.getModel(name), [name]);
  const versions = useLoad(() => api.all<ModelVersion>(`/v1/models/${encodeURIComponent(name)}/versions`), [name]);
  const [error, setError] = useState<string>();
  const m = model.data;
  const sorted = [...(versions.data ?? [])].sort((a, b) => b.version - a.version);

  const remove = async () => {
    if (!window.confirm(`Delete model ${name}?`)) return;
    try {
      await api.deleteModel(name);
      navigate('/models');
    } catch (err) {
      setError(errorText(err));
    }
  };

  return (
    <LoadState loading={model.loading} error={model.error}>
      {m && (
        <Stack>
          <PageHeader title={m.name} description={m.description || `${m.task.replaceAll('_', ' ')} of “${m.target}”`}>
            <Button onClick={() => navigate(`/jobs?model=${encodeURIComponent(m.name)}`)}>Train</Button>
            <Button variant="default" onClick={() => navigate(`/predict?model=${encodeURIComponent(m.name)}`)} disabled={sorted.length === 0}>
              Predict
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
          <Group gap="lg" wrap="wrap">
            <Text size="sm">
              <b>Task:</b> {m.task}
            </Text>
            <Text size="sm">
              <b>Target:</b> {m.target}
            </Text>
            <Text size="sm">
              <b>Features:</b> {m.features?.length ? m.features.join(', ') : 'every other column'}
            </Text>
            <Text size="sm" data-testid="parameter-count">
              <b>Parameters:</b> {m.parameters !== undefined && m.parameters !== null ? formatNumber(m.parameters) : 'inferred when trained'}
            </Text>
          </Group>
          <Title order={3}>Layers</Title>
          <Layers model={m} />
          <Title order={3}>Versions</Title>
          <LoadState loading={versions.loading} error={versions.error} empty={!versions.loading && sorted.length === 0 ? 'No versions yet: train this model on a dataset.' : undefined}>
            {sorted.length > 0 && <Versions model={m} versions={sorted} onChange={versions.reload} />}
          </LoadState>
          <Title order={3}>Monitoring</Title>
          {sorted.length > 0 ? <ModelMonitoring model={m.name} versions={sorted} /> : <Text c="dimmed">Train a version first; then turn prediction logging on to watch it.</Text>}
        </Stack>
      )}
    </LoadState>
  );
}
