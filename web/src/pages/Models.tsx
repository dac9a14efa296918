import { Button, Stack } from '@mantine/core';
import { api } from '../api.ts';
import { DataTable, LoadState, PageHeader } from '../components/Common.tsx';
import { formatNumber, formatTime } from '../format.ts';
import { useLoad } from '../hooks.ts';
import { Link, navigate } from '../router.tsx';

export function ModelsPage() {
  const list = useLoad(() => api.listModels({ limit: 100 }), []);
  const items = list.data?.items ?? [];
  return (
    <Stack>
      <PageHeader title="Models" description="Model definitions: a list of torch.nn layers and a task. Training one makes a version.">
        <Button onClick={() => navigate('/models/new')}>New model</Button>
      </PageHeader>
      <LoadState loading={list.loading} error={list.error} empty={!list.loading && items.length === 0 ? 'No models yet: define one with “New model”.' : undefined}>
        {items.length > 0 && (
          <DataTable
            caption="Models"
            head={['Name', 'Task', 'Target', 'Layers', 'Parameters', 'Created']}
            rows={items.map((m) => [
              <Link href={`/models/${encodeURIComponent(m.name)}`}>{m.name}</Link>,
              m.task,
              m.target,
              m.layers?.length ?? '—',
              formatNumber(m.parameters),
              formatTime(m.created_at),
            ])}
          />
        )}
      </LoadState>
    </Stack>
  );
}
