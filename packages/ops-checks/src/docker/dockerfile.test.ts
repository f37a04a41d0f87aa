import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_METRICS_PORTS } from '@sensor-streaming/runtime';
import { describe, expect, it } from 'vitest';
import { loadCompose } from '../compose/compose-file.js';
import { repoRoot } from '../repo-root.js';
import { contextSources, dockerignoreMatcher, loadDockerfile, parseDockerfile } from './dockerfile.js';

const root = repoRoot();
const { globalArgs, stages } = loadDockerfile(root);
const runtime = stages.at(-1)!;
const ignored = dockerignoreMatcher(readFileSync(path.join(root, '.dockerignore'), 'utf8'));
const json = (p: string) => JSON.parse(readFileSync(path.join(root, p), 'utf8')) as Record<string, unknown>;

describe('Dockerfile', () => {
  it('is multi-stage on node:20-bookworm-slim', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const nodeImage = globalArgs.find((a) => a.args.startsWith('NODE_IMAGE='))?.args.split('=')[1];
    expect(nodeImage).toBe('node:20-bookworm-slim');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the Dockerfile's own ${ARG} syntax
    for (const s of stages) expect(s.base).toBe('${NODE_IMAGE}');
  });

  it('copies from the build context only paths that exist and that .dockerignore keeps', () => {
    const sources = stages.flatMap((s) => s.instructions.flatMap(contextSources));
    expect(sources.length).toBeGreaterThan(2);
    for (const src of sources) {
      if (src === '.') continue;
      expect(existsSync(path.join(root, src)), src).toBe(true);
      expect(ignored(src), `${src} is excluded by .dockerignore`).toBe(false);
    }
  });

  it('copies from earlier stages only paths the build produces or the repository has', () => {
    const built = new Set(['node_modules']);
    for (const s of stages) {
      for (const ins of s.instructions.filter((i) => i.flags.from)) {
        expect(
          stages.map((x) => x.name),
          ins.args,
        ).toContain(ins.flags.from);
        for (const src of ins.args.split(/\s+/).slice(0, -1)) {
          const rel = src.replace(/^\/src\/?/, '');
          if (built.has(rel)) continue;
          expect(existsSync(path.join(root, rel)), src).toBe(true);
          expect(ignored(rel), `${rel} is excluded by .dockerignore`).toBe(false);
        }
      }
    }
  });

  it('keeps local builds, dependencies and secrets out of the build context', () => {
    for (const p of [
      'node_modules',
      'packages/db/node_modules',
      'services/logs-ingester/dist',
      '.git',
      'x/.env',
    ]) {
      expect(ignored(p), p).toBe(true);
    }
    for (const p of [
      'services/logs-ingester/src/main.ts',
      'migrations/0001_extensions.sql',
      'pnpm-lock.yaml',
    ]) {
      expect(ignored(p), p).toBe(false);
    }
  });

  it('runs as a non-root user the service SERVICE picks, from its compiled main.js', () => {
    const users = runtime.instructions.filter((i) => i.keyword === 'USER');
    expect(users.at(-1)?.args).toBe('node');
    expect(
      runtime.instructions.find((i) => i.keyword === 'ARG' && i.args.startsWith('SERVICE')),
    ).toBeDefined();
    const cmd = runtime.instructions.filter((i) => i.keyword === 'CMD').at(-1)!;
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the Dockerfile's own ${ARG} syntax
    expect(cmd.args).toContain('exec node \\"services/${SERVICE}/dist/main.js\\"');
  });

  it('builds what it runs: each service compiles src/ to dist/ and has a main.ts; migrate and iotctl exist', () => {
    const services = readdirSync(path.join(root, 'services'));
    expect(services.sort()).toEqual(Object.keys(DEFAULT_METRICS_PORTS).sort());
    for (const s of services) {
      const tsconfig = json(`services/${s}/tsconfig.json`) as {
        compilerOptions: { rootDir: string; outDir: string };
      };
      expect(tsconfig.compilerOptions).toMatchObject({ rootDir: 'src', outDir: 'dist' });
      expect(existsSync(path.join(root, `services/${s}/src/main.ts`)), `services/${s}/src/main.ts`).toBe(
        true,
      );
    }
    expect(existsSync(path.join(root, 'packages/db/src/bin/migrate.ts'))).toBe(true);
    const wrapper = readFileSync(path.join(root, 'deploy/docker/iotctl'), 'utf8');
    const bin = (json('cli/iotctl/package.json').bin as Record<string, string>).iotctl;
    expect(wrapper).toContain(`/app/cli/iotctl/${bin!.replace(/^\.\//, '')}`);
    const binSource = bin!.replace(/^\.\/dist\/(.*)\.js$/, 'src/$1.ts');
    expect(existsSync(path.join(root, 'cli/iotctl', binSource)), binSource).toBe(true);
  });

  it('builds with the classic builder and without Docker Hub: no syntax frontend, no BuildKit-only flags', () => {
    const text = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    expect(text).not.toMatch(/^#\s*syntax\s*=/im);
    for (const s of stages)
      for (const ins of s.instructions) {
        expect(Object.keys(ins.flags), `line ${ins.line}`).not.toContain('chmod');
        expect(Object.keys(ins.flags), `line ${ins.line}`).not.toContain('mount');
        expect(ins.args, `line ${ins.line}`).not.toMatch(/^--(mount|network|security)=/);
      }
  });

  it('uses no find -prune with -delete (GNU find 4.9 exits 1: -delete implies -depth)', () => {
    for (const ins of stages.flatMap((s) => s.instructions).filter((i) => i.keyword === 'RUN')) {
      for (const cmd of ins.args.split(/&&|;/).filter((c) => /\bfind\b/.test(c))) {
        expect(/-prune/.test(cmd) && /-delete/.test(cmd), `line ${ins.line}: ${cmd}`).toBe(false);
      }
    }
  });

  it('installs production dependencies from an empty node_modules (a --prod install over a dev one keeps the dev packages)', () => {
    const build = stages.find((s) => s.name === 'build')!;
    const run = build.instructions
      .filter((i) => i.keyword === 'RUN')
      .map((i) => i.args)
      .join(' && ');
    const prod = run.indexOf('--prod');
    expect(prod).toBeGreaterThan(0);
    const removal = run.slice(0, prod).lastIndexOf('-name node_modules -prune -exec rm -rf');
    expect(removal, 'node_modules removed before the --prod install').toBeGreaterThan(
      run.lastIndexOf('tsc -b'),
    );
  });

  it('accepts an extra CA bundle for TLS-inspecting proxies, in the build stage only', () => {
    const build = stages.find((s) => s.name === 'build')!;
    expect(build.instructions.some((i) => i.keyword === 'ARG' && i.args.startsWith('EXTRA_CA_CERTS'))).toBe(
      true,
    );
    expect(build.instructions.find((i) => i.keyword === 'ENV')?.args).toContain('NODE_EXTRA_CA_CERTS=');
    expect(runtime.instructions.some((i) => i.args.includes('EXTRA_CA'))).toBe(false);
  });

  it('is what compose.yaml builds', () => {
    const doc = loadCompose(root);
    const builds = Object.values(doc.services).filter((s) => s.build);
    expect(builds.length).toBeGreaterThanOrEqual(5);
    for (const s of builds) {
      expect(s.build?.context).toBe('.');
      expect(existsSync(path.join(root, 'services', String(s.build?.args?.SERVICE)))).toBe(true);
    }
  });
});

describe('parseDockerfile', () => {
  it('joins continuations, reads flags and splits stages', () => {
    const parsed = parseDockerfile(
      'ARG A=1\nFROM x AS build\nRUN a \\\n  # note\n  && b\nFROM y\nCOPY --from=build --chown=1:1 /src/out ./out\n',
    );
    expect(parsed.globalArgs).toHaveLength(1);
    expect(parsed.stages.map((s) => s.name)).toEqual(['build', undefined]);
    expect(parsed.stages[0]!.instructions[0]!.args).toBe('a  && b');
    expect(parsed.stages[1]!.instructions[0]!.flags).toEqual({ from: 'build', chown: '1:1' });
  });
});
