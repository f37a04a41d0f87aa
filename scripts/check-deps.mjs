// Prints the node_modules/.pnpm/<pkg> directory of every direct dependency
// (root and workspace packages) whose declared bin/main/exports files are
// missing, and exits 1 if there is any. Used by scripts/bootstrap.sh.
// Usage: node scripts/check-deps.mjs [workspace-root]
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..');

function importers() {
  const dirs = [root];
  for (const group of ['packages', 'services', 'cli']) {
    const base = join(root, group);
    if (!existsSync(base)) continue;
    for (const d of readdirSync(base)) dirs.push(join(base, d));
  }
  return dirs;
}

function directDeps(dir) {
  const pkgFile = join(dir, 'package.json');
  if (!existsSync(pkgFile)) return [];
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
  return Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).map((name) =>
    join(dir, 'node_modules', name),
  );
}

function firstTarget(exp) {
  if (typeof exp === 'string') return exp;
  if (exp && typeof exp === 'object') {
    for (const key of ['node', 'import', 'default', 'require']) {
      const t = firstTarget(exp[key]);
      if (t) return t;
    }
  }
  return undefined;
}

function missingFiles(pkgDir) {
  const pkgFile = join(pkgDir, 'package.json');
  if (!existsSync(pkgFile)) return ['package.json'];
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
  const wanted = [];
  if (typeof pkg.bin === 'string') wanted.push(pkg.bin);
  else if (pkg.bin) wanted.push(...Object.values(pkg.bin));
  const dot =
    pkg.exports &&
    (typeof pkg.exports === 'string' || pkg.exports['.'] === undefined ? pkg.exports : pkg.exports['.']);
  const entry = firstTarget(dot);
  if (entry && !entry.includes('*')) wanted.push(entry);
  else if (pkg.main) wanted.push(pkg.main);
  return wanted.filter((f) => {
    const p = join(pkgDir, f);
    return !(existsSync(p) || existsSync(`${p}.js`) || existsSync(join(p, 'index.js')));
  });
}

const broken = new Set();
for (const dir of importers()) {
  for (const link of directDeps(dir)) {
    if (!existsSync(link)) continue; // not installed yet: pnpm install reports that itself
    const real = realpathSync(link);
    if (!real.includes(`${sep}.pnpm${sep}`)) continue; // workspace package
    if (missingFiles(real).length > 0) {
      // .../node_modules/.pnpm/<id>/node_modules/<name or @scope/name>
      const idx = real.indexOf(`${sep}.pnpm${sep}`);
      const id = real.slice(idx + 7).split(sep)[0];
      broken.add(join(real.slice(0, idx), '.pnpm', id));
    }
  }
}
for (const b of broken) console.log(b);
process.exit(broken.size > 0 ? 1 : 0);
