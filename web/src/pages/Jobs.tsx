import { useState } from 'react';
import { Alert, Button, Card, Group, NumberInput, SegmentedControl, Select, Stack, Title } from '@mantine/core';
import { api, errorText, type JobStatus } from '../api.ts';
import { DataTable, LoadState, PageHeader, StatusBadge } from '../components/Common.tsx';
import { duration, formatTime } from '../format.ts';
import { useLoad } from '../hooks.ts';
import { Link, navigate, queryParam, usePath } from '../router.tsx';

const STATUSES = ['all', 'queued', 'running', 'succeeded', 'failed', 'cancelled'];

function NewJob({ initialModel }: { initialModel: string | null }) {
  const models = useLoad(() => api.listModels({ limit: 200 }), []);
  const datasets = useLoad(() => api.listDatasets({ limit: 200 }), []);
  const [model, setModel] = useState<string | null>(initialModel);
  const [dataset, setDataset] = useState<string | null>(null);
  const [epochs, setEpochs] = useState<number | string>(20);
  const [batchSize, setBatchSize] = useState<number | string>(32);
  const [optimizer, setOptimizer] = useState<string | null>('Adam');
  const [lr, setLr] = useState<number | string>(0.001);
  const [error, setError] = useState<string>();
  const [saving, setSaving] = useState(false);

  const submit = async () => {
    if (!model || !dataset) return;
    setSaving(true);
    setError(undefined);
    try {
      const hyperparameters: Record<string, unknown> = {};
      if (epochs !== '') hyperparameters.epochs = Number(epochs);
      if (batchSize !== '') hyperparameters.batch_size = Number(batchSize);
      if (optimizer) hyperparameters.optimizer = { type: optimizer, ...(lr !== '' ? { lr: Number(lr) } : {}) };
      const job = await api.createTrainingJob({ model, dataset, hyperparameters });
      navigate(`/jobs/${encodeURIComponent(job.id)}`);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setSaving(false);
    }
  };

  return (
    <Card withBorder>
      <Title order={4} mb="sm">
        Train a model
      </Title>
      <Group align="flex-end" wrap="wrap">
        <Select label="Model" searchable data={(models.data?.items ?? []).map((m) => m.name)} value={model} onChange={setModel} w={200} />
        <Select
          label="Dataset"
          searchable
          data={(datasets.data?.items ?? []).map((d) => ({ value: d.id, label: `${d.name} v${d.version}` }))}
          value={dataset}
          onChange={setDataset}
          w={220}
        />
        <NumberInput label="Epochs" min={1} value={epochs} onChange={setEpochs} w={100} />
        <NumberInput label="Batch size" min={1} value={batchSize} onChange={setBatchSize} w={110} />
        <Select label="Optimizer" data={['Adam', 'AdamW', 'SGD', 'RMSprop']} value={optimizer} onChange={setOptimizer} w={120} />
        <NumberInput label="Learning rate" min={0} step={0.0005} decimalScale={6} value={lr} onChange={setLr} w={130} />
        <Button onClick={submit} loading={saving} disabled={!model || !dataset}>
          Start training
        </Button>
      </Group>
      {error && (
        <Alert color="red" mt="sm" role="alert" title="Could not start the job">
          {error}
        </Alert>
      )}
    </Card>
  );
}

export function JobsPage() {
  const path = usePath();
  const [status, setStatus] = useState('all');
  const jobs = useLoad(() => api.listTrainingJobs({ limit: 100, status: status === 'all' ? undefined : (status as JobStatus) }), [status], 3000);
  const items = jobs.data?.items ?? [];
  return (
    <Stack>
      <PageHeader title="Training jobs" description="Each job trains a model on a dataset; a successful one records a new model version." />
      <NewJob initialModel={queryParam(path, 'model')} />
      <SegmentedControl aria-label="Filter by status" data={STATUSES.map((s) => ({ value: s, label: s[0].toUpperCase() + s.slice(1) }))} value={status} onChange={setStatus} style={{ alignSelf: 'flex-start', maxWidth: '100%', overflowX: 'auto' }} />
      <LoadState loading={jobs.loading && !jobs.data} error={jobs.error} empty={jobs.data && items.length === 0 ? 'No training jobs match.' : undefined}>
        {items.length > 0 && (
          <DataTable
            caption="Training jobs"
            minWidth={800}
            head={['Job', 'Status', 'Model', 'Dataset', 'Progress', 'Version', 'Created', 'Took']}
            rows={items.map((j) => [
              <Link href={`/jobs/${encodeURIComponent(j.id)}`}>{j.id}</Link>,
              <StatusBadge status={j.status} />,
              <Link href={`/models/${encodeURIComponent(j.model)}`}>{j.model}</Link>,
              <Link href={`/datasets/${encodeURIComponent(j.dataset)}`}>{j.dataset}</Link>,
              j.progress ? `${j.progress.epoch}/${j.progress.epochs}` : '—',
              j.model_version ? `v${j.model_version}` : '—',
              formatTime(j.created_at),
              duration(j.started_at, j.finished_at),
            ])}
          />
        )}
      </LoadState>
    </Stack>
  );
}
