import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../repo-root.js';

export interface Instruction {
  /** Upper-case keyword: FROM, COPY, RUN, ... */
  keyword: string;
  /** `--flag=value` options (COPY --from, --chown, --chmod). */
  flags: Record<string, string>;
  /** The rest of the line, continuation lines joined. */
  args: string;
  line: number;
}

export interface Stage {
  name: string | undefined;
  base: string;
  instructions: Instruction[];
}

/** A Dockerfile split into stages of instructions (comments dropped, `\` continuations joined). */
export function parseDockerfile(text: string): { globalArgs: Instruction[]; stages: Stage[] } {
  const instructions: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      i++;
      const next = lines[i]!;
      // a comment line inside a continuation is dropped and the continuation goes on
      if (!/^\s*#/.test(next)) line = `${line.slice(0, -1)} ${next.trim()}`;
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile line ${start + 1}: cannot parse ${JSON.stringify(line)}`);
    let rest = m[2]!.trim();
    const flags: Record<string, string> = {};
    for (let f = /^--([a-z-]+)=(\S+)\s+/.exec(rest); f; f = /^--([a-z-]+)=(\S+)\s+/.exec(rest)) {
      flags[f[1]!] = f[2]!;
      rest = rest.slice(f[0].length);
    }
    instructions.push({ keyword: m[1]!.toUpperCase(), flags, args: rest, line: start + 1 });
  }
  const globalArgs: Instruction[] = [];
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const [base, as, name] = ins.args.split(/\s+/);
      stages.push({ name: as?.toUpperCase() === 'AS' ? name : undefined, base: base!, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`Dockerfile line ${ins.line}: ${ins.keyword} before FROM`);
      globalArgs.push(ins);
    } else {
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return { globalArgs, stages };
}

/** Sources of a COPY/ADD from the build context (not `--from=`), as written. */
export function contextSources(ins: Instruction): string[] {
  if ((ins.keyword !== 'COPY' && ins.keyword !== 'ADD') || ins.flags.from) return [];
  const parts = ins.args.startsWith('[') ? (JSON.parse(ins.args) as string[]) : ins.args.split(/\s+/);
  return parts.slice(0, -1);
}

export function loadDockerfile(root = repoRoot()) {
  return parseDockerfile(readFileSync(path.join(root, 'Dockerfile'), 'utf8'));
}

/** .dockerignore patterns (no negations are used here), as matchers of repository-relative paths. */
export function dockerignoreMatcher(text: string): (p: string) => boolean {
  const patterns = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (patterns.some((p) => p.startsWith('!')))
    throw new Error('.dockerignore: negated patterns are not supported here');
  const regexes = patterns.map((p) => {
    const body = p
      .replace(/^\//, '')
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replaceAll('**/', 'GLOBSTARSLASH')
      .replaceAll('**', 'GLOBSTAR')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]')
      .replaceAll('GLOBSTARSLASH', '(?:.*/)?')
      .replaceAll('GLOBSTAR', '.*');
    // a pattern matches the path itself or any parent directory of it
    return new RegExp(`^${body}(?:/.*)?$`);
  });
  return (p) => regexes.some((r) => r.test(p.replace(/^\.\//, '').replace(/\/$/, '')));
}
