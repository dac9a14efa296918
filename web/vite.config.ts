import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The dashboard is served by `trainyard server` from web/dist at `/`. In development, `npm run dev`
// proxies the API to a server on TRAINYARD_URL (default http://127.0.0.1:8080).
const api = process.env.TRAINYARD_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  // The shared client lives in ../src/client (also used by the CLI).
  server: {
    fs: { allow: ['..'] },
    proxy: { '/v1': api, '/openapi.json': api, '/healthz': api, '/readyz': api },
  },
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1500, sourcemap: false },
});
