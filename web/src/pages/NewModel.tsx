import { useMemo, useState } from 'react';
import { ActionIcon, Alert, Autocomplete, Button, Card, Group, List, MultiSelect, Select, Stack, Tabs, Text, TextInput, Textarea, Title } from '@mantine/core';
import { ApiError, api, errorText, type FieldProblem, type LayerSpec } from '../api.ts';
import { PageHeader } from '../components/Common.tsx';
import { LAYER_TYPES, argumentsHint } from '../layers.ts';
import { useLoad } from '../hooks.ts';
import { navigate, queryParam, usePath } from '../router.tsx';

const TASKS = [
  { value: 'binary_classification', label: 'Binary classification' },
  { value: 'multiclass_classification', label: 'Multiclass classification' },
  { value: 'regression', label: 'Regression' },
];

interface LayerRow {
  type: string;
  args: string;
}

interface FormState {
  name: string;
  description: string;
  task: string;
  target: string;
  features: string[];
  layers: LayerRow[];
}

const DEFAULT_FORM: FormState = {
  name: '',
  description: '',
  task: 'binary_classification',
  target: '',
  features: [],
  layers: [
    { type: 'Linear', args: 'out_features=32' },
    { type: 'ReLU', args: '' },
    { type: 'Dropout', args: 'p=0.1' },
    { type: 'Linear', args: 'out_features=1' },
  ],
};

/** `out_features=64, bias=false` → `{out_features: 64, bias: false}` (values are JSON when they parse). */
function parseArgs(text: string): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (const part of text.trim().split(/[\s,]+(?=[A-Za-z_]\w*\s*=)/).map((part) => part.trim().replace(/,$/, '')).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const raw = part.slice(eq + 1).trim();
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    args[part.slice(0, eq).trim()] = value;
  }
  return args;
}

const formatArgs = (layer: LayerSpec) =>
  Object.entries(layer)
    .filter(([key]) => key !== 'type')
    .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
    .join(', ');

function toSpec(form: FormState): Record<string, unknown> {
  const spec: Record<string, unknown> = {
    name: form.name,
    task: form.task,
    target: form.target,
    layers: form.layers.map((layer) => ({ type: layer.type, ...parseArgs(layer.args) })),
  };
  if (form.description) spec.description = form.description;
  if (form.features.length) spec.features = form.features;
  return spec;
}

function fromSpec(spec: Record<string, unknown>): FormState {
  return {
    name: String(spec.name ?? ''),
    description: String(spec.description ?? ''),
    task: String(spec.task ?? 'binary_classification'),
    target: String(spec.target ?? ''),
    features: Array.isArray(spec.features) ? spec.features.map(String) : [],
    layers: Array.isArray(spec.layers) ? (spec.layers as LayerSpec[]).map((layer) => ({ type: String(layer.type ?? ''), args: formatArgs(layer) })) : [],
  };
}

/** Which layer an error concerns (`layers.2.out_features`, `body.layers[2]`, `layers/2`), if any. */
export function layerIndex(problem: FieldProblem): number | null {
  const m = /layers(?:\.|\[|\/)(\d+)/.exec(problem.field);
  return m ? Number(m[1]) : null;
}

function topField(problem: FieldProblem): string {
  return problem.field.replace(/^body\./, '').split(/[.[/]/)[0];
}

export function NewModelPage() {
  const path = usePath();
  const [datasetId, setDatasetId] = useState<string | null>(queryParam(path, 'dataset'));
  const [tab, setTab] = useState<string | null>('form');
  const [form, setForm] = useState<FormState>(DEFAULT_FORM);
  const [json, setJson] = useState(() => JSON.stringify(toSpec(DEFAULT_FORM), null, 2));
  const [jsonError, setJsonError] = useState<string>();
  const [problems, setProblems] = useState<FieldProblem[]>([]);
  const [general, setGeneral] = useState<string>();
  const [saving, setSaving] = useState(false);

  const datasets = useLoad(() => api.listDatasets({ limit: 100 }), []);
  const dataset = useLoad(() => (datasetId ? api.getDataset(datasetId) : Promise.resolve(undefined)), [datasetId]);
  const columns = useMemo(() => dataset.data?.columns.map((c) => c.name) ?? [], [dataset.data]);

  const update = (patch: Partial<FormState>) => setForm((f) => ({ ...f, ...patch }));
  const setLayer = (i: number, patch: Partial<LayerRow>) => update({ layers: form.layers.map((l, j) => (j === i ? { ...l, ...patch } : l)) });
  const layerProblems = (i: number) => problems.filter((p) => layerIndex(p) === i);
  const fieldProblem = (name: string) => problems.filter((p) => layerIndex(p) === null && topField(p) === name).map((p) => p.message).join('; ') || undefined;
  const otherProblems = problems.filter((p) => layerIndex(p) === null && !['name', 'task', 'target', 'features', 'description'].includes(topField(p)));

  const switchTab = (next: string | null) => {
    if (next === 'json' && tab === 'form') setJson(JSON.stringify(toSpec(form), null, 2));
    if (next === 'form' && tab === 'json') {
      try {
        setForm(fromSpec(JSON.parse(json)));
        setJsonError(undefined);
      } catch (err) {
        setJsonError(`Fix the JSON before switching: ${(err as Error).message}`);
        return;
      }
    }
    setTab(next);
  };

  const submit = async () => {
    setGeneral(undefined);
    setProblems([]);
    let spec: Record<string, unknown>;
    if (tab === 'json') {
      try {
        spec = JSON.parse(json);
        setJsonError(undefined);
      } catch (err) {
        setJsonError(`Not valid JSON: ${(err as Error).message}`);
        return;
      }
    } else spec = toSpec(form);
    setSaving(true);
    try {
      const model = await api.createModel(spec);
      navigate(`/models/${encodeURIComponent(model.name)}`);
    } catch (err) {
      if (err instanceof ApiError && err.problem.errors.length) {
        setProblems(err.problem.errors);
        setGeneral(err.problem.detail);
      } else setGeneral(errorText(err));
    } finally {
      setSaving(false);
    }
  };

  const specLayers = (() => {
    if (tab === 'form') return form.layers.map((l) => l.type);
    try {
      const parsed = JSON.parse(json) as { layers?: LayerSpec[] };
      return (parsed.layers ?? []).map((l) => String(l.type));
    } catch {
      return [];
    }
  })();

  return (
    <Stack maw={960}>
      <PageHeader title="New model" description="Layers are torch.nn classes with their constructor arguments; in_features is inferred from the data." />
      <Card withBorder>
        <Select
          label="Dataset (optional)"
          description="Pick the data you will train on to choose the target and features from its columns"
          placeholder="No dataset"
          clearable
          searchable
          data={(datasets.data?.items ?? []).map((d) => ({ value: d.id, label: `${d.name} v${d.version} (${d.row_count} rows)` }))}
          value={datasetId}
          onChange={setDatasetId}
        />
      </Card>
      <Tabs value={tab} onChange={switchTab}>
        <Tabs.List>
          <Tabs.Tab value="form">Form</Tabs.Tab>
          <Tabs.Tab value="json">JSON editor</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="form" pt="md">
          <Stack>
            <Group grow align="flex-start" wrap="wrap">
              <TextInput label="Name" required value={form.name} onChange={(e) => update({ name: e.currentTarget.value })} error={fieldProblem('name')} miw={200} />
              <Select label="Task" required data={TASKS} value={form.task} onChange={(v) => update({ task: v ?? 'binary_classification' })} error={fieldProblem('task')} allowDeselect={false} miw={200} />
            </Group>
            <Group grow align="flex-start" wrap="wrap">
              {columns.length ? (
                <Select label="Target column" required searchable data={columns} value={form.target || null} onChange={(v) => update({ target: v ?? '' })} error={fieldProblem('target')} miw={200} />
              ) : (
                <TextInput label="Target column" required value={form.target} onChange={(e) => update({ target: e.currentTarget.value })} error={fieldProblem('target')} miw={200} />
              )}
              <MultiSelect
                label="Features"
                description="Empty: every column except the target"
                data={columns.filter((c) => c !== form.target)}
                value={form.features}
                onChange={(v) => update({ features: v })}
                searchable
                error={fieldProblem('features')}
                miw={200}
              />
            </Group>
            <TextInput label="Description" value={form.description} onChange={(e) => update({ description: e.currentTarget.value })} />
            <Title order={4}>Layers</Title>
            {form.layers.map((layer, i) => {
              const errs = layerProblems(i);
              return (
                <Card key={i} withBorder padding="xs" data-testid={`layer-${i}`} style={errs.length ? { borderColor: 'var(--mantine-color-red-6)' } : undefined}>
                  <Group align="flex-end" wrap="wrap" gap="xs">
                    <Text size="sm" c="dimmed" w={24}>
                      {i}
                    </Text>
                    <Autocomplete label={`Layer ${i} type`} data={[...LAYER_TYPES]} value={layer.type} onChange={(v) => setLayer(i, { type: v })} w={170} />
                    <TextInput
                      label={`Layer ${i} arguments`}
                      placeholder="out_features=64"
                      value={layer.args}
                      onChange={(e) => setLayer(i, { args: e.currentTarget.value })}
                      style={{ flex: 1, minWidth: 160 }}
                    />
                    <Group gap={4}>
                      <ActionIcon variant="default" aria-label={`Move layer ${i} up`} disabled={i === 0} onClick={() => update({ layers: swap(form.layers, i, i - 1) })}>
                        ↑
                      </ActionIcon>
                      <ActionIcon variant="default" aria-label={`Move layer ${i} down`} disabled={i === form.layers.length - 1} onClick={() => update({ layers: swap(form.layers, i, i + 1) })}>
                        ↓
                      </ActionIcon>
                      <ActionIcon variant="light" color="red" aria-label={`Remove layer ${i}`} onClick={() => update({ layers: form.layers.filter((_, j) => j !== i) })}>
                        ×
                      </ActionIcon>
                    </Group>
                  </Group>
                  {argumentsHint(layer.type) && (
                    <Text size="xs" c="dimmed" mt={4} data-testid={`layer-${i}-hint`}>
                      {argumentsHint(layer.type)}
                    </Text>
                  )}
                  {errs.map((p, k) => (
                    <Text key={k} c="red" size="sm" role="alert" mt={4}>
                      {p.field.replace(/^(body\.)?layers(\[\d+\]|\.\d+|\/\d+)\.?/, '') || 'layer'}: {p.message}
                    </Text>
                  ))}
                </Card>
              );
            })}
            <Group>
              <Button variant="default" onClick={() => update({ layers: [...form.layers, { type: 'Linear', args: 'out_features=16' }] })}>
                Add layer
              </Button>
            </Group>
          </Stack>
        </Tabs.Panel>
        <Tabs.Panel value="json" pt="md">
          <Stack>
            <Textarea
              className="json-editor"
              label="Model definition (JSON)"
              description='{"name", "task", "target", "features"?, "layers": [{"type": "Linear", "out_features": 64}, …]}'
              autosize
              minRows={14}
              value={json}
              onChange={(e) => setJson(e.currentTarget.value)}
              error={jsonError}
              spellCheck={false}
            />
            {problems.some((p) => layerIndex(p) !== null) && (
              <Card withBorder padding="sm" style={{ borderColor: 'var(--mantine-color-red-6)' }}>
                <Text fw={600} size="sm" mb={4}>
                  Problems by layer
                </Text>
                <List size="sm">
                  {problems
                    .filter((p) => layerIndex(p) !== null)
                    .map((p, k) => (
                      <List.Item key={k}>
                        <Text span fw={500}>
                          layer {layerIndex(p)} ({specLayers[layerIndex(p)!] ?? '?'})
                        </Text>
                        : {p.field} {p.message}
                      </List.Item>
                    ))}
                </List>
              </Card>
            )}
            {problems.some((p) => layerIndex(p) === null) && (
              <List size="sm" c="red">
                {problems
                  .filter((p) => layerIndex(p) === null)
                  .map((p, k) => (
                    <List.Item key={k}>
                      {p.field}: {p.message}
                    </List.Item>
                  ))}
              </List>
            )}
          </Stack>
        </Tabs.Panel>
      </Tabs>
      {general && (
        <Alert color="red" title="The API rejected this model" role="alert">
          {general}
          {tab === 'form' && otherProblems.length > 0 && (
            <List size="sm" mt="xs">
              {otherProblems.map((p, k) => (
                <List.Item key={k}>
                  {p.field}: {p.message}
                </List.Item>
              ))}
            </List>
          )}
        </Alert>
      )}
      <Group>
        <Button onClick={submit} loading={saving}>
          Create model
        </Button>
      </Group>
    </Stack>
  );
}

function swap<T>(list: T[], a: number, b: number): T[] {
  const copy = [...list];
  [copy[a], copy[b]] = [copy[b], copy[a]];
  return copy;
}
