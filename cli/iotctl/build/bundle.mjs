// Builds the iotctl bundle: dist/bundle/main.js (commander, option parsing, the command tree) plus chunks
// loaded on demand (the bus and the actions per command; ink and React only for `status`).
// Plain JavaScript so that the launcher (bin/iotctl.js) can rebuild without a TypeScript loader.
//
// Every file is written to a temporary name and renamed into place (chunk names carry a content hash; the
// entry and the manifest are renamed last), so concurrent builds and a run during a build never see a torn
// bundle. The manifest lists the inputs (relative to the repository root) and when the build started: the
// launcher rebuilds when any input is newer (bin/iotctl.js `staleReason`).
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = resolve(PACKAGE_DIR, '../..');
export const BUNDLE_DIR = join(PACKAGE_DIR, 'dist', 'bundle');
export const MANIFEST = join(BUNDLE_DIR, 'manifest.json');

/** Files outside node_modules that also decide what the bundle contains. */
const EXTRA_INPUTS = [
  'pnpm-lock.yaml',
  'cli/iotctl/build/bundle.mjs',
  'cli/iotctl/build/prom-client-stub.mjs',
  'cli/iotctl/package.json',
];

function writeAtomic(path, contents) {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, path);
}

function packageVersion() {
  return JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8')).version;
}

/**
 * Our workspace sources do nothing at import time (STYLE.md), so esbuild may drop a module none of whose
 * exports is used: `iotctl --version` then loads commander and the option parsers, not amqplib, protobufjs
 * and prom-client, which the modules re-exported next to a small helper (e.g. `parseFrequency`) import.
 */
const workspaceSourcesArePure = {
  name: 'workspace-sources-are-pure',
  setup(b) {
    b.onResolve({ filter: /^@sensor-streaming\// }, async (args) => {
      if (args.pluginData?.pure) return undefined;
      const r = await b.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        importer: args.importer,
        pluginData: { pure: true },
      });
      if (r.errors.length > 0) return { errors: r.errors };
      return { path: r.path, sideEffects: false };
    });
    b.onResolve({ filter: /^\.\.?\// }, async (args) => {
      if (args.pluginData?.pure || !/\/(packages|cli)\/[^/]+\/src\//.test(args.importer)) return undefined;
      const r = await b.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        importer: args.importer,
        pluginData: { pure: true },
      });
      if (r.errors.length > 0) return { errors: r.errors };
      return { path: r.path, sideEffects: false };
    });
  },
};

/** Chunks no build has referenced for an hour (an older build's): removed so dist does not grow forever. */
function pruneChunks(keep) {
  const dir = join(BUNDLE_DIR, 'chunks');
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const hourAgo = Date.now() - 3_600_000;
  for (const name of names) {
    const path = join(dir, name);
    if (keep.has(path)) continue;
    try {
      if (statSync(path).mtimeMs < hourAgo) rmSync(path, { force: true });
    } catch {
      // another build removed it
    }
  }
}

/** Bundles src/main.ts; returns the manifest written. */
export async function buildBundle() {
  const { build } = await import('esbuild');
  const builtAtMs = Date.now();
  const result = await build({
    absWorkingDir: REPO_DIR,
    entryPoints: { main: join(PACKAGE_DIR, 'src/main.ts') },
    outdir: BUNDLE_DIR,
    entryNames: '[name]',
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // workspace packages export their TypeScript sources under `source` (as tsx and vitest use them)
    conditions: ['source'],
    jsx: 'automatic',
    // smaller files parse faster; names are kept (error names, stack traces stay readable with the map)
    minify: true,
    keepNames: true,
    sourcemap: 'linked',
    legalComments: 'none',
    logLevel: 'silent',
    metafile: true,
    write: false,
    // only used by ink when DEV=true; never installed
    external: ['react-devtools-core'],
    // a CLI run serves no metrics: the bus counts into a no-op stand-in (build/prom-client-stub.mjs)
    // and protocol's reflection (Root.fromJSON, Type, Enum) needs protobufjs' light build, not its .proto parser
    alias: {
      'prom-client': join(PACKAGE_DIR, 'build', 'prom-client-stub.mjs'),
      protobufjs: createRequire(join(REPO_DIR, 'packages/protocol/package.json')).resolve(
        'protobufjs/light.js',
      ),
    },
    define: {
      'process.env.NODE_ENV': '"production"',
      'process.env.IOTCTL_BUNDLED_VERSION': JSON.stringify(packageVersion()),
    },
    plugins: [workspaceSourcesArePure],
    // CommonJS dependencies (amqplib, protobufjs) call require() for node built-ins
    banner: {
      js: "import { createRequire as __iotctlCreateRequire } from 'node:module'; const require = __iotctlCreateRequire(import.meta.url);",
    },
  });
  const files = result.outputFiles;
  const entry = files.filter(
    (f) => f.path === join(BUNDLE_DIR, 'main.js') || f.path === join(BUNDLE_DIR, 'main.js.map'),
  );
  for (const f of files) if (!entry.includes(f)) writeAtomic(f.path, f.contents);
  for (const f of entry) writeAtomic(f.path, f.contents);
  const inputs = Object.keys(result.metafile.inputs)
    .filter((p) => !p.includes('node_modules/') && !p.startsWith('<'))
    .map((p) => relative(REPO_DIR, resolve(REPO_DIR, p)));
  const manifest = { builtAtMs, inputs: [...new Set([...inputs, ...EXTRA_INPUTS])].sort() };
  writeAtomic(MANIFEST, `${JSON.stringify(manifest, null, 1)}\n`);
  pruneChunks(new Set(files.map((f) => f.path)));
  return { manifest, metafile: result.metafile };
}

// `node build/bundle.mjs [--analyze]`
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { manifest, metafile } = await buildBundle();
  if (process.argv.includes('--analyze')) {
    const { analyzeMetafile } = await import('esbuild');
    process.stdout.write(await analyzeMetafile(metafile));
  }
  process.stdout.write(
    `iotctl bundle: ${relative(process.cwd(), BUNDLE_DIR)} (${manifest.inputs.length} inputs)\n`,
  );
}
