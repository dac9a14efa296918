import { useEffect, useMemo, useState } from 'react';
import { Alert, Badge, Button, Card, Code, Group, Progress, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { FINISHED, api, errorText, type TuningJob, type TuningTrial } from '../api.ts';
import { EpochChart, type ChartSeries } from '../components/Chart.tsx';
import { DataTable, FailureAlerts, LoadState, PageHeader, StatusBadge } from '../components/Common.tsx';
import { STATUS_COLORS, duration, formatNumber, formatTime } from '../format.ts';
import { Link } from '../router.tsx';

/** Studies and trials are read again this often while the study runs (running trials' curves grow between trial events). */
const REFRESH_MS = 2500;

const better = (direction: string, a: number, b: number | null) => b === null || (direction === 'minimize' ? a < b : a > b);
const paramText = (params: Record<string, unknown>) =>
  Object.entries(params)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? formatNumber(v) : JSON.stringify(v)}`)
    .join(', ');

/** Objective against trial number: succeeded and pruned trials as points, and the best succeeded objective so far as a line. */
function objectiveSeries(trials: TuningTrial[], direction: string): { x: number[]; series: ChartSeries[] } {
  const ended = trials.filter((t) => t.objective !== null && (t.state === 'succeeded' || t.state === 'pruned')).sort((a, b) => a.number - b.number);
  let best: number | null = null;
  const bestSoFar = ended.map((t) => {
    if (t.state === 'succeeded' && better(direction, t.objective!, best)) best = t.objective!;
    return best;
  });
  return {
    x: ended.map((t) => t.number),
    series: [
      { label: 'succeeded', values: ended.map((t) => (t.state === 'succeeded' ? t.objective : null)), style: 'points' },
      { label: 'pruned', values: ended.map((t) => (t.state === 'pruned' ? t.objective : null)), style: 'points' },
      { label: 'best so far', values: bestSoFar },
    ],
  };
}

/** Each trial's objective per epoch: pruned trials dashed (their curves stop where they were stopped). */
function curveSeries(trials: TuningTrial[]): { x: number[]; series: ChartSeries[] } {
  const withCurves = [...trials].filter((t) => Object.keys(t.curve).length > 0).sort((a, b) => a.number - b.number);
  const x = [...new Set(withCurves.flatMap((t) => Object.keys(t.curve).map(Number)))].sort((a, b) => a - b);
  return {
    x,
    series: withCurves.map((t) => ({
      label: `trial ${t.number}${t.state === 'pruned' ? ' (pruned)' : t.state === 'running' ? ' (running)' : ''}`,
      values: x.map((epoch) => t.curve[String(epoch)] ?? null),
      style: t.state === 'pruned' ? 'dashed' : 'line',
    })),
  };
}

/** Objective against one numeric parameter's value (succeeded trials), sorted by that value. */
function paramSeries(trials: TuningTrial[], param: string): { x: number[]; series: ChartSeries[] } {
  const points = trials
    .filter((t) => t.state === 'succeeded' && t.objective !== null && typeof t.params[param] === 'number')
    .map((t) => [t.params[param] as number, t.objective!] as const)
    .sort((a, b) => a[0] - b[0]);
  return { x: points.map((p) => p[0]), series: [{ label: 'objective', values: points.map((p) => p[1]), style: 'points' }] };
}

function Importance({ study }: { study: TuningJob }) {
  const report = study.summary.param_importance;
  if (!report) return <Text c="dimmed">Shown once 6 trials have succeeded.</Text>;
  return (
    <Stack gap={6} data-testid="param-importance">
      {report.params.map((p) => (
        <div key={p.param}>
          <Group justify="space-between" gap="xs">
            <Code>{p.param}</Code>
            <Text size="sm">{formatNumber(p.importance, 2)}</Text>
          </Group>
          <Progress value={p.importance * 100} aria-label={`Importance of ${p.param}`} />
        </div>
      ))}
      <Text size="xs" c="dimmed">
        The share of the objective&rsquo;s variance each parameter explains on its own, over {report.trials_used} succeeded trials (corrected for chance; no interactions). With few trials, small shares are noise.
      </Text>
    </Stack>
  );
}

export function StudyPage({ id }: { id: string }) {
  const [study, setStudy] = useState<TuningJob>();
  const [trials, setTrials] = useState<TuningTrial[]>([]);
  const [error, setError] = useState<string>();
  const [live, setLive] = useState(false);
  const [cancelling, setCancelling] = useState(false);

  useEffect(() => {
    const controller = new AbortController();
    let stopped = false;
    const refresh = async (): Promise<TuningJob | undefined> => {
      const [s, t] = await Promise.all([api.getTuningJob(id), api.tuningTrials(id)]);
      if (stopped) return undefined;
      setStudy(s);
      setTrials(t.items);
      return s;
    };

    (async () => {
      let current: TuningJob | undefined;
      try {
        current = await refresh();
      } catch (err) {
        setError(errorText(err));
        return;
      }
      if (!current || FINISHED.includes(current.status)) return;
      // Trial and status events refresh at once; a timer refreshes the running trials' curves in between.
      const timer = setInterval(() => void refresh().catch(() => undefined), REFRESH_MS);
      try {
        setLive(true);
        for await (const event of api.tuningEvents(id, controller.signal)) {
          if (event.event === 'trial' || event.event === 'status') void refresh().catch(() => undefined);
          else if (event.event === 'end') break;
        }
      } catch {
        // the stream dropped: poll until the study ends
      } finally {
        setLive(false);
      }
      while (!stopped) {
        const s = await refresh().catch(() => undefined);
        if (s && FINISHED.includes(s.status)) break;
        await new Promise((r) => setTimeout(r, REFRESH_MS));
      }
      clearInterval(timer);
    })();
    return () => {
      stopped = true;
      controller.abort();
    };
  }, [id]);

  const direction = study?.objective.direction ?? 'minimize';
  const objective = useMemo(() => objectiveSeries(trials, direction), [trials, direction]);
  const curves = useMemo(() => curveSeries(trials), [trials]);
  const numericParams = useMemo(() => (study ? Object.keys(study.search_space).filter((p) => trials.some((t) => typeof t.params[p] === 'number')) : []), [study, trials]);
  const byNumber = useMemo(() => [...trials].sort((a, b) => a.number - b.number), [trials]);

  const cancel = async () => {
    setCancelling(true);
    try {
      setStudy(await api.cancelTuningJob(id));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setCancelling(false);
    }
  };

  const s = study?.summary;
  const best = s && s.best_trial !== null ? trials.find((t) => t.number === s.best_trial) : undefined;
  const ended = s ? s.trials.total - s.trials.running : 0;

  return (
    <LoadState loading={!study && !error} error={!study ? error : undefined}>
      {study && s && (
        <Stack>
          <PageHeader
            title={
              <Group gap="xs">
                Tuning study <Code fz="lg">{study.id}</Code> <StatusBadge status={study.status} />
              </Group>
            }
            description={
              <>
                Model <Link href={`/models/${encodeURIComponent(study.model)}`}>{study.model}</Link> on dataset <Link href={`/datasets/${encodeURIComponent(study.dataset)}`}>{study.dataset}</Link>: {study.strategy}, {study.objective.direction}{' '}
                {study.objective.metric}
              </>
            }
          >
            {!FINISHED.includes(study.status) && (
              <Button color="red" variant="light" onClick={cancel} loading={cancelling} disabled={study.cancel_requested}>
                {study.cancel_requested ? 'Cancelling…' : 'Cancel study'}
              </Button>
            )}
          </PageHeader>
          <FailureAlerts error={error} failure={study.status === 'failed' && study.error} title="The study failed" />
          {study.status === 'succeeded' && study.model_version && (
            <Alert color="green" title="Study finished" data-testid="study-succeeded">
              The best trial is <Link href={`/models/${encodeURIComponent(study.model)}`}>{study.model} version {study.model_version}</Link>
              {study.alias ? ` (alias ${study.alias})` : ''}.
            </Alert>
          )}
          <Card withBorder>
            <Group justify="space-between" mb={6}>
              <Text size="sm" fw={500} data-testid="study-progress">
                {ended} of {study.max_trials} trials ended · {s.trials.running} running · {s.trials.succeeded} succeeded · {s.trials.pruned} pruned · {s.trials.failed} failed
                {s.trials.cancelled ? ` · ${s.trials.cancelled} cancelled` : ''}
              </Text>
              <Text size="sm" c="dimmed">
                {live ? 'live' : ''} {duration(study.started_at, study.finished_at)}
              </Text>
            </Group>
            <Progress value={(ended / study.max_trials) * 100} aria-label="Trials ended" animated={study.status === 'running'} />
          </Card>
          <SimpleGrid cols={{ base: 1, md: 2 }}>
            <Card withBorder data-testid="best-trial">
              <Title order={4} mb="xs">
                Best trial
              </Title>
              {s.best_trial === null ? (
                <Text c="dimmed">No trial has succeeded yet.</Text>
              ) : (
                <Stack gap={4}>
                  <Text size="sm">
                    Trial {s.best_trial}: {study.objective.metric} <b>{formatNumber(s.best_objective)}</b>
                    {s.best_model_version ? (
                      <>
                        {' '}
                        → <Link href={`/models/${encodeURIComponent(study.model)}`}>version {s.best_model_version}</Link>
                      </>
                    ) : null}
                    {best?.training_job_id ? (
                      <>
                        {' '}
                        (job <Link href={`/jobs/${encodeURIComponent(best.training_job_id)}`}>{best.training_job_id}</Link>)
                      </>
                    ) : null}
                  </Text>
                  <Code block>{JSON.stringify(s.best_params, null, 2)}</Code>
                </Stack>
              )}
            </Card>
            <Card withBorder>
              <Title order={4} mb="xs">
                Parameter importance
              </Title>
              <Importance study={study} />
            </Card>
          </SimpleGrid>
          <SimpleGrid cols={{ base: 1, md: 2 }}>
            <Card withBorder>
              <Title order={4} mb="xs">
                Objective by trial
              </Title>
              {objective.x.length ? <EpochChart title="Objective" x={objective.x} series={objective.series} xLabel="trial" /> : <Text c="dimmed">No trial has ended yet.</Text>}
            </Card>
            <Card withBorder>
              <Title order={4} mb="xs">
                {study.objective.metric} per epoch
              </Title>
              {curves.x.length ? <EpochChart title="Trial curves" x={curves.x} series={curves.series} /> : <Text c="dimmed">No epochs yet.</Text>}
            </Card>
          </SimpleGrid>
          {numericParams.length > 0 && objective.x.length > 0 && (
            <SimpleGrid cols={{ base: 1, md: 2, lg: 3 }}>
              {numericParams.map((param) => {
                const p = paramSeries(trials, param);
                const space = study.search_space[param] as Record<string, unknown>;
                return (
                  <Card withBorder key={param}>
                    <Text size="sm" fw={500} mb={4}>
                      {study.objective.metric} against <Code>{param}</Code>
                    </Text>
                    {p.x.length ? <EpochChart title={`Objective by ${param}`} x={p.x} series={p.series} xLabel={param} xLog={'log_uniform' in space} xContinuous height={180} /> : <Text c="dimmed">No succeeded trial yet.</Text>}
                  </Card>
                );
              })}
            </SimpleGrid>
          )}
          <Card withBorder>
            <Title order={4} mb="xs">
              Trials
            </Title>
            {byNumber.length ? (
              <DataTable
                caption="Trials"
                minWidth={900}
                head={['Trial', 'State', study.objective.metric, 'Rank', 'Parameters', 'Epochs', 'Training job', 'Version']}
                rows={byNumber.map((t) => [
                  t.number,
                  <Badge color={STATUS_COLORS[t.state] ?? 'gray'} variant="light" aria-label={`state ${t.state}`}>
                    {t.state}
                  </Badge>,
                  formatNumber(t.objective),
                  t.rank ?? '—',
                  <Text size="xs" ff="monospace">
                    {paramText(t.params)}
                  </Text>,
                  t.epochs_run ?? '—',
                  t.training_job_id ? <Link href={`/jobs/${encodeURIComponent(t.training_job_id)}`}>{t.training_job_id}</Link> : <Text size="xs" c="red">{t.error ?? '—'}</Text>,
                  t.model_version ? `v${t.model_version}` : '—',
                ])}
              />
            ) : (
              <Text c="dimmed">No trials yet.</Text>
            )}
          </Card>
          <Card withBorder>
            <Title order={4} mb="xs">
              Details
            </Title>
            <Stack gap={4}>
              <Text size="sm">
                Created {formatTime(study.created_at)} · started {formatTime(study.started_at)} · finished {formatTime(study.finished_at)} · driver attempts {study.attempts}
              </Text>
              <Text size="sm">
                Budget: {study.max_trials} trials, {study.max_parallel} at once{study.max_runtime_seconds ? `, ${study.max_runtime_seconds} s at most` : ''}; pruning {study.pruning ? JSON.stringify(study.pruning) : 'off'}; trial time {formatNumber(s.trial_seconds, 1)} s; epochs run {s.epochs_run}, saved by pruning {s.epochs_saved_by_pruning}
              </Text>
              <Text size="sm">Search space:</Text>
              <Code block>{JSON.stringify(study.search_space, null, 2)}</Code>
              <Text size="sm">Base hyperparameters:</Text>
              <Code block>{JSON.stringify(study.hyperparameters, null, 2)}</Code>
            </Stack>
          </Card>
        </Stack>
      )}
    </LoadState>
  );
}
