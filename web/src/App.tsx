import { useEffect, useState } from 'react';
import { AppShell, Burger, Button, Group, Modal, NavLink, PasswordInput, Stack, Text, Title } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { getToken, onUnauthorized, setToken } from './api.ts';
import { Link, match, navigate, usePath } from './router.tsx';
import { DatasetsPage } from './pages/Datasets.tsx';
import { DatasetPage } from './pages/Dataset.tsx';
import { ModelsPage } from './pages/Models.tsx';
import { ModelPage } from './pages/Model.tsx';
import { NewModelPage } from './pages/NewModel.tsx';
import { JobsPage } from './pages/Jobs.tsx';
import { JobPage } from './pages/Job.tsx';
import { PredictPage } from './pages/Predict.tsx';
import { StudiesPage } from './pages/Studies.tsx';
import { StudyPage } from './pages/Study.tsx';

const SECTIONS = [
  { href: '/datasets', label: 'Datasets' },
  { href: '/models', label: 'Models' },
  { href: '/jobs', label: 'Training jobs' },
  { href: '/tuning', label: 'Tuning studies' },
  { href: '/predict', label: 'Predict' },
];

function Page({ path }: { path: string }) {
  let params: Record<string, string> | null;
  if ((params = match('/datasets/:id', path))) return <DatasetPage id={params.id} />;
  if (match('/models/new', path)) return <NewModelPage />;
  if ((params = match('/models/:name', path))) return <ModelPage name={params.name} />;
  if ((params = match('/jobs/:id', path))) return <JobPage id={params.id} />;
  if (match('/jobs', path)) return <JobsPage />;
  if ((params = match('/tuning/:id', path))) return <StudyPage id={params.id} />;
  if (match('/tuning', path)) return <StudiesPage />;
  if (match('/models', path)) return <ModelsPage />;
  if (match('/predict', path)) return <PredictPage />;
  if (match('/datasets', path)) return <DatasetsPage />;
  return (
    <Stack>
      <Title order={2}>Not found</Title>
      <Text>
        There is no page at {path}. <Link href="/datasets">Go to the datasets</Link>.
      </Text>
    </Stack>
  );
}

function TokenPrompt({ opened, onSaved }: { opened: boolean; onSaved: () => void }) {
  const [value, setValue] = useState('');
  return (
    <Modal opened={opened} onClose={() => {}} withCloseButton={false} title="Sign in to Trainyard" centered>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          setToken(value.trim());
          onSaved();
        }}
      >
        <Stack>
          <Text size="sm">This server requires an API token. It is kept in this page's memory only: reloading the page asks for it again.</Text>
          <PasswordInput label="API token" description="Create one with `trainyard tokens create`" value={value} onChange={(e) => setValue(e.currentTarget.value)} data-autofocus required />
          <Group justify="flex-end">
            <Button type="submit">Save token</Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

export function App() {
  const path = usePath();
  const [opened, { toggle, close }] = useDisclosure();
  const [needToken, setNeedToken] = useState(false);
  const [generation, setGeneration] = useState(0);

  useEffect(() => onUnauthorized(() => setNeedToken(true)), []);
  useEffect(() => {
    if (path === '/' || path === '') navigate('/datasets', true);
  }, [path]);
  useEffect(close, [path, close]);

  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 220, breakpoint: 'sm', collapsed: { mobile: !opened } }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between">
          <Group gap="sm">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Toggle navigation" />
            <Link href="/datasets" style={{ textDecoration: 'none', color: 'inherit' }} aria-label="Trainyard home">
              <Group gap={8}>
                <img src="/favicon.svg" alt="" width={24} height={24} />
                <Title order={4}>Trainyard</Title>
              </Group>
            </Link>
          </Group>
          <Group gap="xs">
            <Button component="a" href="/docs" variant="subtle" size="compact-sm">
              API docs
            </Button>
            {getToken() && (
              <Button
                variant="subtle"
                size="compact-sm"
                onClick={() => {
                  setToken(null);
                  setGeneration((g) => g + 1);
                }}
              >
                Forget token
              </Button>
            )}
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label="Sections">
        {SECTIONS.map((section) => (
          <NavLink
            key={section.href}
            component={Link}
            href={section.href}
            label={section.label}
            active={path === section.href || path.startsWith(`${section.href}/`) || path.startsWith(`${section.href}?`)}
          />
        ))}
      </AppShell.Navbar>
      <AppShell.Main>
        <Page key={`${generation}:${path.split('?')[0]}`} path={path} />
      </AppShell.Main>
      <TokenPrompt
        opened={needToken}
        onSaved={() => {
          setNeedToken(false);
          setGeneration((g) => g + 1);
        }}
      />
    </AppShell>
  );
}
