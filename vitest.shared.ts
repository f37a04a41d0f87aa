import type { ViteUserConfig } from 'vitest/config';

/**
 * Workspace packages export their TypeScript sources under the `source`
 * condition (see each package.json `exports`), so tests and `tsx` run the
 * sources directly while `node dist/...` runs the compiled output.
 */
const conditions = ['source', 'module', 'node', 'development|production'];

export function sharedProjectConfig(name: string): ViteUserConfig {
  return {
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: ['source'] } },
    test: {
      name,
      include: ['src/**/*.test.ts', 'src/**/*.test.tsx', 'test/**/*.test.ts', 'test/**/*.test.tsx'],
      environment: 'node',
      testTimeout: 30_000,
      hookTimeout: 60_000,
    },
  };
}
