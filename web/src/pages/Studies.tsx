import { useState } from 'react';
import { SegmentedControl, Stack } from '@mantine/core';
import { api, type JobStatus } from '../api.ts';
import { DataTable, LoadState, PageHeader, StatusBadge } from '../components/Common.tsx';
import { duration, formatNumber, formatTime } from '../format.ts';
import { useLoad } from '../hooks.ts';
import { Link } from '../router.tsx';

const STATUSES = ['all', 'queued', 'running', 'succeeded', 'failed', 'cancelled'];

export function StudiesPage() {
  const [status, setStatus] = useState('all');
  const studies = useLoad(() => api.listTuningJobs({ limit: 100, status: status === 'all' ? undefined : (status as JobStatus) }), [status], 3000);
  const items = studies.data?.items ?? [];
  return (
    <Stack>
      <PageHeader
        title="Tuning studies"
        description="Each study searches a model's hyperparameters by running trials as training jobs (POST /v1/tuning-jobs, or trainyard tune)."
      />
      <SegmentedControl aria-label="Filter by status" data={STATUSES.map((s) => ({ value: s, label: s[0].toUpperCase() + s.slice(1) }))} value={status} onChange={setStatus} style={{ alignSelf: 'flex-start', maxWidth: '100%', overflowX: 'auto' }} />
      <LoadState loading={studies.loading && !studies.data} error={studies.error} empty={studies.data && items.length === 0 ? 'No tuning studies match. Start one with `trainyard tune` or POST /v1/tuning-jobs.' : undefined}>
        {items.length > 0 && (
          <DataTable
            caption="Tuning studies"
            minWidth={900}
            head={['Study', 'Status', 'Model', 'Strategy', 'Trials', 'Objective', 'Best', 'Version', 'Created', 'Took']}
            rows={items.map((s) => [
              <Link href={`/tuning/${encodeURIComponent(s.id)}`}>{s.id}</Link>,
              <StatusBadge status={s.status} />,
              <Link href={`/models/${encodeURIComponent(s.model)}`}>{s.model}</Link>,
              s.strategy,
              `${s.summary.trials.total - s.summary.trials.running}/${s.max_trials}`,
              `${s.objective.direction} ${s.objective.metric}`,
              formatNumber(s.summary.best_objective),
              s.model_version ? `v${s.model_version}` : '—',
              formatTime(s.created_at),
              duration(s.started_at, s.finished_at),
            ])}
          />
        )}
      </LoadState>
    </Stack>
  );
}
