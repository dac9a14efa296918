import type { ReactNode } from 'react';
import { Alert, Badge, Group, Loader, Stack, Table, Text, Title } from '@mantine/core';
import { STATUS_COLORS } from '../format.ts';

export function StatusBadge({ status }: { status: string }) {
  return (
    <Badge color={STATUS_COLORS[status] ?? 'gray'} variant="light" aria-label={`status ${status}`} style={{ flex: 'none', maxWidth: 'none', overflow: 'visible' }} styles={{ label: { overflow: 'visible' } }}>
      {status}
    </Badge>
  );
}

/** A failed request's message and a job's own failure, as red alerts (the job and study pages). */
export function FailureAlerts({ error, failure, title }: { error?: string; failure: string | null | false; title: string }) {
  return (
    <>
      {error && (
        <Alert color="red" role="alert">
          {error}
        </Alert>
      )}
      {failure && (
        <Alert color="red" title={title} role="alert">
          {failure}
        </Alert>
      )}
    </>
  );
}

export function PageHeader({ title, children, description }: { title: ReactNode; children?: ReactNode; description?: ReactNode }) {
  return (
    <Group justify="space-between" align="flex-start" mb="md" wrap="wrap">
      <Stack gap={2}>
        <Title order={2}>{title}</Title>
        {description && (
          <Text c="dimmed" size="sm">
            {description}
          </Text>
        )}
      </Stack>
      {children && <Group gap="xs">{children}</Group>}
    </Group>
  );
}

export function LoadState({ loading, error, empty, children }: { loading: boolean; error?: string; empty?: ReactNode; children?: ReactNode }) {
  if (error)
    return (
      <Alert color="red" title="Could not load" role="alert">
        {error}
      </Alert>
    );
  if (loading && !children) return <Loader size="sm" aria-label="Loading" />;
  if (empty) return <Text c="dimmed">{empty}</Text>;
  return <>{children}</>;
}

/** A table that scrolls sideways on a narrow screen instead of breaking the layout. */
export function DataTable({ head, rows, caption, minWidth = 600 }: { head: ReactNode[]; rows: ReactNode[][]; caption?: string; minWidth?: number }) {
  return (
    <Table.ScrollContainer minWidth={minWidth}>
      <Table striped highlightOnHover verticalSpacing="xs" aria-label={caption}>
        <Table.Thead>
          <Table.Tr>
            {head.map((h, i) => (
              <Table.Th key={i} className="nowrap">
                {h}
              </Table.Th>
            ))}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((row, r) => (
            <Table.Tr key={r}>
              {row.map((cell, c) => (
                <Table.Td key={c}>{cell}</Table.Td>
              ))}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

export function Histogram({ values, min, max, bins = 16, label }: { values: number[]; min?: number; max?: number; bins?: number; label: string }) {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return <Text c="dimmed" size="xs">—</Text>;
  const lo = min ?? Math.min(...finite);
  const hi = max ?? Math.max(...finite);
  const counts = new Array<number>(bins).fill(0);
  for (const v of finite) {
    const i = hi > lo ? Math.min(bins - 1, Math.max(0, Math.floor(((v - lo) / (hi - lo)) * bins))) : 0;
    counts[i]++;
  }
  const peak = Math.max(...counts);
  const width = 120;
  const height = 28;
  const w = width / bins;
  return (
    <svg className="histogram" width={width} height={height} role="img" aria-label={`Histogram of ${label} (${finite.length} sampled values)`}>
      {counts.map((count, i) => {
        const h = peak ? Math.max(count ? 1 : 0, (count / peak) * height) : 0;
        return <rect key={i} x={i * w + 0.5} y={height - h} width={Math.max(1, w - 1)} height={h} />;
      })}
    </svg>
  );
}
