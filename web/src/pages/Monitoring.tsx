// The model page's monitoring tab: logging settings, traffic and latency per hour, drift per feature
// (PSI, with training and live histograms side by side) and live quality from feedback.
import { useState } from 'react';
import { Alert, Button, Card, Group, NumberInput, SegmentedControl, Select, Stack, Text, Title } from '@mantine/core';
import { api, errorText, type DriftReport, type ExportJob, type FeatureDrift, type ModelVersion } from '../api.ts';
import { navigate } from '../router.tsx';
import { EpochChart } from '../components/Chart.tsx';
import { DataTable, LoadState, StatusBadge } from '../components/Common.tsx';
import { formatNumber, formatTime } from '../format.ts';
import { useLoad } from '../hooks.ts';

const WINDOWS = ['24h', '7d', '30d'];
const percent = (share: number | undefined) => (share === undefined ? '—' : `${(share * 100).toFixed(1)}%`);

function Settings({ model }: { model: string }) {
  const settings = useLoad(() => api.getMonitoring(model), [model]);
  const [rate, setRate] = useState<number | string>('');
  const [days, setDays] = useState<number | string>('');
  const [error, setError] = useState<string>();
  const [saving, setSaving] = useState(false);
  const current = settings.data;
  const save = async (logSampleRate: number) => {
    setSaving(true);
    setError(undefined);
    try {
      await api.setMonitoring(model, { log_sample_rate: logSampleRate, retention_days: Number(days || current?.retention_days || 30) });
      settings.reload();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setSaving(false);
    }
  };
  return (
    <LoadState loading={settings.loading} error={settings.error}>
      {current && (
        <Group align="flex-end" gap="sm" wrap="wrap">
          <Text size="sm" data-testid="monitoring-state">
            <b>Prediction logging:</b> {current.log_sample_rate > 0 ? `${formatNumber(current.log_sample_rate * 100)}% of rows, kept ${current.retention_days} days` : 'off'}
            {current.updated_at ? ` (changed ${formatTime(current.updated_at)})` : ''}
          </Text>
          <NumberInput label="Sample rate" description="0 to 1" min={0} max={1} step={0.1} decimalScale={4} w={120} value={rate === '' ? current.log_sample_rate : rate} onChange={setRate} />
          <NumberInput label="Retention (days)" min={1} max={3650} w={140} value={days === '' ? current.retention_days : days} onChange={setDays} />
          <Button loading={saving} onClick={() => save(Number(rate === '' ? current.log_sample_rate || 1 : rate))}>
            Save
          </Button>
          {current.log_sample_rate > 0 && (
            <Button variant="default" loading={saving} onClick={() => save(0)}>
              Turn off
            </Button>
          )}
          {error && (
            <Alert color="red" role="alert" w="100%">
              {error}
            </Alert>
          )}
        </Group>
      )}
    </LoadState>
  );
}

/** Training and live shares bin by bin, as paired horizontal bars. */
function BinsChart({ feature }: { feature: Pick<FeatureDrift, 'feature' | 'histogram'> }) {
  const peak = Math.max(0.0001, ...feature.histogram.flatMap((b) => [b.expected, b.live]));
  return (
    <div className="drift-bins" role="img" aria-label={`Training and live distribution of ${feature.feature}`} data-testid={`bins-${feature.feature}`}>
      {feature.histogram.map((bin) => (
        <div key={bin.bin} className="drift-bin">
          <Text size="xs" ff="monospace" className="drift-bin-label" title={bin.bin}>
            {bin.bin}
          </Text>
          <div className="drift-bars">
            <div className="drift-bar drift-bar-expected" style={{ width: `${(bin.expected / peak) * 100}%` }} title={`training ${percent(bin.expected)}`} />
            <div className="drift-bar drift-bar-live" style={{ width: `${(bin.live / peak) * 100}%` }} title={`live ${percent(bin.live)}`} />
          </div>
          <Text size="xs" c="dimmed" className="nowrap">
            {percent(bin.expected)} → {percent(bin.live)}
          </Text>
        </div>
      ))}
    </div>
  );
}

function Drift({ report }: { report: DriftReport }) {
  const [selected, setSelected] = useState<string>();
  const features = [...report.features].sort((a, b) => b.psi - a.psi);
  const shown = features.find((f) => f.feature === selected) ?? features[0];
  return (
    <Stack gap="sm">
      <Group gap="lg">
        <Text size="sm">
          <b>Live rows:</b> {formatNumber(report.live_rows)} since {formatTime(report.from)}
        </Text>
        <Text size="sm" component="div">
          <b>Status:</b> <StatusBadge status={report.status} />
        </Text>
        {report.prediction && (
          <Text size="sm" component="div">
            <b>Predictions:</b> PSI {formatNumber(report.prediction.psi)} <StatusBadge status={report.prediction.status} />
          </Text>
        )}
      </Group>
      <DataTable
        caption="Drift per feature"
        head={['Feature', 'PSI', 'Status', 'Missing (train → live)', 'Unseen (train → live)', '']}
        rows={features.map((f) => [
          <Text size="sm" fw={500}>{f.feature}</Text>,
          formatNumber(f.psi),
          <StatusBadge status={f.status} />,
          `${percent(f.missing_share.expected)} → ${percent(f.missing_share.live)}`,
          f.unseen_share ? `${percent(f.unseen_share.expected)} → ${percent(f.unseen_share.live)}` : '—',
          <Button size="compact-xs" variant={shown?.feature === f.feature ? 'filled' : 'default'} onClick={() => setSelected(f.feature)}>
            Histogram
          </Button>,
        ])}
      />
      {shown && (
        <Card withBorder>
          <Group justify="space-between" mb="xs">
            <Text fw={500}>{shown.feature}: training (grey) against live (blue)</Text>
            <Text size="sm" c="dimmed">
              PSI {formatNumber(shown.psi)}
            </Text>
          </Group>
          <BinsChart feature={shown} />
        </Card>
      )}
      {report.prediction && (
        <Card withBorder>
          <Text fw={500} mb="xs">
            Predictions: validation (grey) against live (blue)
          </Text>
          <BinsChart feature={{ feature: 'prediction', histogram: report.prediction.histogram }} />
        </Card>
      )}
    </Stack>
  );
}

/** Export what was served (with feedback labels) as a dataset version, then train from it. */
function ExportAndRetrain({ model }: { model: string }) {
  const [job, setJob] = useState<ExportJob>();
  const [error, setError] = useState<string>();
  const start = async () => {
    setError(undefined);
    try {
      let current = await api.exportPredictionLogs(model, { name: `${model}-served` });
      setJob(current);
      while (current.status === 'queued' || current.status === 'running') {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        current = await api.getExportJob(current.id);
        setJob(current);
      }
    } catch (err) {
      setError(errorText(err));
    }
  };
  const busy = job?.status === 'queued' || job?.status === 'running';
  return (
    <Group gap="sm">
      <Button variant="default" loading={busy} onClick={start}>
        Export served rows and retrain
      </Button>
      {job?.status === 'succeeded' && job.result && (
        <>
          <Text size="sm" data-testid="export-result">
            Exported {formatNumber(job.result.rows)} rows as {job.result.dataset_name} v{job.result.dataset_version}.
          </Text>
          <Button size="compact-sm" onClick={() => navigate(`/jobs?model=${encodeURIComponent(model)}`)}>
            Train on it
          </Button>
        </>
      )}
      {job?.status === 'failed' && (
        <Text size="sm" c="red">
          {job.error}
        </Text>
      )}
      {error && (
        <Text size="sm" c="red" role="alert">
          {error}
        </Text>
      )}
    </Group>
  );
}

export function ModelMonitoring({ model, versions }: { model: string; versions: ModelVersion[] }) {
  const [version, setVersion] = useState<string | null>(versions[0] ? String(versions[0].version) : null);
  const [window, setWindow] = useState('24h');
  const traffic = useLoad(() => api.traffic(model, window), [model, window], 15_000);
  const drift = useLoad(() => (version ? api.drift(model, version, window) : Promise.resolve(undefined)), [model, version, window], 15_000);
  const quality = useLoad(() => (version ? api.liveQuality(model, version, window) : Promise.resolve(undefined)), [model, version, window], 15_000);
  const hours = (traffic.data?.hours ?? []).filter((h) => String(h.version) === version);
  return (
    <Stack>
      <Settings model={model} />
      <ExportAndRetrain model={model} />
      <Group gap="sm" align="flex-end">
        <Select label="Version" w={140} data={versions.map((v) => ({ value: String(v.version), label: `version ${v.version}` }))} value={version} onChange={setVersion} allowDeselect={false} />
        <SegmentedControl data={WINDOWS} value={window} onChange={setWindow} aria-label="Window" />
      </Group>
      <Title order={4}>Traffic and latency</Title>
      {hours.length > 0 ? (
        <Group grow align="flex-start">
          <EpochChart title="Logged rows" xLabel="hour (UTC)" x={hours.map((_, i) => i)} series={[{ label: 'rows per hour', values: hours.map((h) => h.rows) }]} height={180} />
          <EpochChart title="Latency" xLabel="hour (UTC)" x={hours.map((_, i) => i)} series={[{ label: 'p50 ms', values: hours.map((h) => h.latency_ms.p50) }, { label: 'p99 ms', values: hours.map((h) => h.latency_ms.p99) }]} height={180} />
        </Group>
      ) : (
        <Text c="dimmed">No logged traffic for this version in the window{hours.length === 0 ? ': turn logging on and serve predictions.' : '.'}</Text>
      )}
      <Title order={4}>Drift against the training data</Title>
      <LoadState loading={drift.loading} error={drift.error}>
        {drift.data && <Drift report={drift.data} />}
      </LoadState>
      <Title order={4}>Live quality</Title>
      <LoadState loading={quality.loading} error={quality.error} empty={quality.data && quality.data.labelled_rows === 0 ? 'No feedback yet: POST true labels to /v1/models/{name}/feedback.' : undefined}>
        {quality.data && quality.data.labelled_rows > 0 && (
          <Group gap="lg" data-testid="live-quality">
            <Text size="sm">
              <b>Labelled rows:</b> {formatNumber(quality.data.labelled_rows)}
            </Text>
            {Object.entries(quality.data.metrics).map(([name, value]) => (
              <Text size="sm" key={name}>
                <b>{name}:</b> {value === null ? '—' : formatNumber(value)}
              </Text>
            ))}
          </Group>
        )}
      </LoadState>
    </Stack>
  );
}
