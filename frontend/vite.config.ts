import { defineConfig } from 'vitest/config'
import { svelte } from '@sveltejs/vite-plugin-svelte'

// Build output goes to dist/, which Wails embeds (//go:embed all:frontend/dist).
// File names carry no hashes so the built dist/index.html is byte-for-byte the
// committed placeholder: a clean clone compiles, and a build leaves git clean.
export default defineConfig({
  plugins: [svelte()],
  clearScreen: false,
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4000,
    rollupOptions: {
      output: {
        entryFileNames: 'assets/[name].js',
        chunkFileNames: 'assets/[name].js',
        assetFileNames: 'assets/[name][extname]',
      },
    },
  },
  optimizeDeps: {
    // Pre-bundle at start-up so the dev server never reloads the page mid-test
    // when it discovers a dependency.
    include: ['@atproto/api'],
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
})
