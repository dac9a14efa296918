import { useEffect, useMemo, useRef, useState } from 'react';
import { Alert, Button, Card, Code, Group, Progress, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { FINISHED, api, errorText, logLine, toEpochPoint, type EpochPoint, type TrainingJob } from '../api.ts';
import { EpochChart, type ChartSeries } from '../components/Chart.tsx';
import { FailureAlerts, LoadState, PageHeader, StatusBadge } from '../components/Common.tsx';
import { duration, flatMetrics, formatBytes, formatNumber, formatTime } from '../format.ts';
import { Link } from '../router.tsx';

function mergeEpoch(list: EpochPoint[], row: EpochPoint): EpochPoint[] {
  const others = list.filter((r) => r.epoch !== row.epoch);
  return [...others, row].sort((a, b) => a.epoch - b.epoch);
}

export function JobPage({ id }: { id: string }) {
  const [job, setJob] = useState<TrainingJob>();
  const [error, setError] = useState<string>();
  const [epochs, setEpochs] = useState<EpochPoint[]>([]);
  const [logs, setLogs] = useState<string[]>([]);
  // checkpoint and resumed events, as lines ("checkpoint after epoch 3", "resumed after epoch 3, attempt 2")
  const [resumes, setResumes] = useState<string[]>([]);
  const [live, setLive] = useState(false);
  const [cancelling, setCancelling] = useState(false);
  const logBox = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const controller = new AbortController();
    let stopped = false;
    const refresh = () => api.getTrainingJob(id).then((j) => !stopped && setJob(j));

    (async () => {
      let current: TrainingJob;
      try {
        current = await api.getTrainingJob(id);
        setJob(current);
      } catch (err) {
        setError(errorText(err));
        return;
      }
      const history = await api.trainingMetrics(id).catch(() => []);
      if (stopped) return;
      setEpochs(history);
      if (FINISHED.includes(current.status)) {
        const lines = await api.trainingLogs(id).catch(() => []);
        if (!stopped) setLogs(lines);
        return;
      }
      // Follow the live event stream (it replays the job's events from the start, logs included);
      // fall back to polling if it is unavailable or drops.
      try {
        setLive(true);
        for await (const event of api.trainingEvents(id, controller.signal)) {
          const data = event.data as Record<string, unknown>;
          if (event.event === 'epoch') setEpochs((list) => mergeEpoch(list, toEpochPoint(data)));
          else if (event.event === 'status') {
            setJob((j) => (j ? { ...j, status: (data?.status ?? j.status) as TrainingJob['status'] } : j));
            void refresh();
          } else if (event.event === 'checkpoint') {
            setResumes((r) => [...r, `${formatTime(String(data.saved_at))}  checkpoint after epoch ${String(data.epoch)}${Number(data.batch) > 0 ? ` (+${String(data.batch)} batches)` : ''}, ${formatBytes(Number(data.bytes))}`]);
          } else if (event.event === 'resumed') {
            setResumes((r) => [...r, `attempt ${String(data.attempt)} resumed after epoch ${String(data.epoch)}`]);
          } else if (event.event === 'log') setLogs((l) => [...l, logLine(data)]);
          else if (event.event === 'end') break;
        }
      } catch {
        // fall through to polling
      } finally {
        setLive(false);
      }
      while (!stopped) {
        const j = await api.getTrainingJob(id).catch(() => undefined);
        if (j) setJob(j);
        const h = await api.trainingMetrics(id).catch(() => undefined);
        if (h && !stopped) setEpochs(h);
        if (!j || FINISHED.includes(j.status)) break;
        await new Promise((r) => setTimeout(r, 1500));
      }
      const l = await api.trainingLogs(id).catch(() => undefined);
      if (l && !stopped) setLogs(l);
    })();
    return () => {
      stopped = true;
      controller.abort();
    };
  }, [id]);

  useEffect(() => {
    const el = logBox.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [logs]);

  const charts = useMemo(() => {
    const x = epochs.map((e) => e.epoch);
    const values = epochs.map((e) => e.metrics);
    const keys = [...new Set(values.flatMap((v) => Object.keys(v)))];
    const series = (names: string[]): ChartSeries[] => names.map((name) => ({ label: name, values: values.map((v) => (name in v ? v[name] : null)) }));
    const loss = keys.filter((k) => /loss/i.test(k));
    const scores = keys.filter((k) => !/loss|^lr$|learning_rate|seconds|time/i.test(k));
    const validation = scores.filter((k) => k.startsWith('val_'));
    const metrics = validation.length ? validation : scores;
    return { x, loss: series(loss), metrics: series(metrics), metricsTitle: validation.length ? 'Validation metrics' : 'Metrics' };
  }, [epochs]);

  const cancel = async () => {
    setCancelling(true);
    try {
      setJob(await api.cancelTrainingJob(id));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setCancelling(false);
    }
  };

  const progress = job?.progress && job.progress.epochs ? (job.progress.epoch / job.progress.epochs) * 100 : job?.status === 'succeeded' ? 100 : 0;
  const latest = epochs.length ? epochs[epochs.length - 1].epoch : (job?.progress?.epoch ?? 0);
  const total = job?.progress?.epochs ?? Number(job?.hyperparameters?.epochs ?? 0);

  return (
    <LoadState loading={!job && !error} error={!job ? error : undefined}>
      {job && (
        <Stack>
          <PageHeader
            title={
              <Group gap="xs">
                Training job <Code fz="lg">{job.id}</Code> <StatusBadge status={job.status} />
              </Group>
            }
            description={
              <>
                Model <Link href={`/models/${encodeURIComponent(job.model)}`}>{job.model}</Link> on dataset <Link href={`/datasets/${encodeURIComponent(job.dataset)}`}>{job.dataset}</Link>
                {job.study_id && (
                  <>
                    , a trial of study <Link href={`/tuning/${encodeURIComponent(job.study_id)}`}>{job.study_id}</Link>
                  </>
                )}
              </>
            }
          >
            {!FINISHED.includes(job.status) && (
              <Button color="red" variant="light" onClick={cancel} loading={cancelling}>
                Cancel job
              </Button>
            )}
          </PageHeader>
          <FailureAlerts error={error} failure={job.status === 'failed' && job.error} title="The job failed" />
          {job.status === 'succeeded' && job.model_version && (
            <Alert color="green" title="Trained" data-testid="job-succeeded">
              Recorded as <Link href={`/models/${encodeURIComponent(job.model)}`}>{job.model} version {job.model_version}</Link>.{' '}
              <Link href={`/predict?model=${encodeURIComponent(job.model)}&version=${job.model_version}`}>Predict with it</Link>.
            </Alert>
          )}
          <Card withBorder>
            <Group justify="space-between" mb={6}>
              <Text size="sm" fw={500}>
                Epoch {latest}
                {total ? ` of ${total}` : ''}
              </Text>
              <Text size="sm" c="dimmed">
                {live ? 'live' : ''} {duration(job.started_at, job.finished_at)}
              </Text>
            </Group>
            <Progress value={progress} aria-label="Training progress" animated={job.status === 'running'} />
          </Card>
          <SimpleGrid cols={{ base: 1, md: 2 }}>
            <Card withBorder>
              <Title order={4} mb="xs">
                Loss
              </Title>
              {charts.x.length ? <EpochChart title="Loss" x={charts.x} series={charts.loss} /> : <Text c="dimmed">No epochs yet.</Text>}
            </Card>
            <Card withBorder>
              <Title order={4} mb="xs">
                {charts.metricsTitle}
              </Title>
              {charts.x.length && charts.metrics.length ? <EpochChart title="Metrics" x={charts.x} series={charts.metrics} /> : <Text c="dimmed">No metrics yet.</Text>}
            </Card>
          </SimpleGrid>
          <SimpleGrid cols={{ base: 1, md: 2 }}>
            <Card withBorder>
              <Title order={4} mb="xs">
                Details
              </Title>
              <Stack gap={4}>
                <Text size="sm">Created: {formatTime(job.created_at)}</Text>
                <Text size="sm">Started: {formatTime(job.started_at)}</Text>
                <Text size="sm">Finished: {formatTime(job.finished_at)}</Text>
                <Text size="sm">Attempts: {job.attempts}</Text>
                {job.init_from && (
                  <Text size="sm">
                    Started from: <Link href={`/models/${encodeURIComponent(job.init_from.model)}`}>{job.init_from.model}</Link> v{job.init_from.version}
                  </Text>
                )}
                {job.checkpoint && (
                  <Text size="sm">
                    Checkpoint: after epoch {job.checkpoint.epoch}, {formatBytes(job.checkpoint.bytes)}, {formatTime(job.checkpoint.saved_at)}
                  </Text>
                )}
                {resumes.length > 0 && (
                  <>
                    <Text size="sm">Checkpoints and resumes:</Text>
                    <Code block aria-label="Checkpoints and resumes">
                      {resumes.join('\n')}
                    </Code>
                  </>
                )}
                <Text size="sm">Hyperparameters:</Text>
                <Code block>{JSON.stringify(job.hyperparameters ?? {}, null, 2)}</Code>
                {job.metrics && (
                  <>
                    <Text size="sm">Latest metrics:</Text>
                    <Code block>
                      {Object.entries(flatMetrics(job.metrics))
                        .map(([k, v]) => `${k}: ${formatNumber(v)}`)
                        .join('\n')}
                    </Code>
                  </>
                )}
              </Stack>
            </Card>
            <Card withBorder>
              <Title order={4} mb="xs">
                Logs
              </Title>
              <div ref={logBox} className="logs" role="log" aria-label="Job logs" aria-live="polite" tabIndex={0}>
                {logs.length ? logs.join('\n') : 'No log lines yet.'}
              </div>
            </Card>
          </SimpleGrid>
        </Stack>
      )}
    </LoadState>
  );
}
