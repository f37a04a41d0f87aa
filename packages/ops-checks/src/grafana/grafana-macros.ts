/**
 * What Grafana does to a SQL panel query before it reaches PostgreSQL, so the
 * dashboards' queries can be run in tests: template variables first (the
 * frontend's interpolation, SQL flavour), then the backend's `$__macro(...)`s
 * of the PostgreSQL datasource. Anything left that looks like a variable is an
 * error, so a typo in a dashboard fails instead of reaching the database.
 */

export interface TemplateVariableValue {
  /** Multi-value and "include All" variables are quoted and comma-separated by Grafana. */
  multi: boolean;
  values: string[];
}

export interface ExpandOptions {
  from: Date;
  to: Date;
  /** The panel's $__interval in milliseconds. */
  intervalMs: number;
  /** Dashboard variables by name. */
  variables: Record<string, TemplateVariableValue>;
  /** The datasource's jsonData.timescaledb: $__timeGroup then uses time_bucket(). */
  timescaledb: boolean;
}

export class GrafanaExpansionError extends Error {
  readonly code = 'GRAFANA_EXPANSION';
}

const quoteLiteral = (v: string): string => `'${v.replace(/'/g, "''")}'`;

/** Grafana's interval text for a duration: 500ms, 15s, 1m, 2h, 1d. */
export function formatInterval(ms: number): string {
  const units: Array<[string, number]> = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  for (const [suffix, size] of units) {
    if (ms >= size && ms % size === 0) return `${ms / size}${suffix}`;
  }
  return `${ms}ms`;
}

/** Grafana's gtime.ParseInterval subset: <n>ms|s|m|h|d|w|y. */
export function parseInterval(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)$/.exec(text.trim().replace(/^['"]|['"]$/g, ''));
  if (!m) throw new GrafanaExpansionError(`invalid interval ${JSON.stringify(text)}`);
  const n = Number(m[1]);
  const factor = {
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
    d: 86_400_000,
    w: 604_800_000,
    y: 31_536_000_000,
  }[m[2] as 'ms'];
  return n * factor;
}

function globalVariables(o: ExpandOptions): Record<string, string> {
  const rangeMs = o.to.getTime() - o.from.getTime();
  return {
    __interval: formatInterval(o.intervalMs),
    __interval_ms: String(o.intervalMs),
    __range: formatInterval(rangeMs),
    __range_ms: String(rangeMs),
    __range_s: String(Math.round(rangeMs / 1000)),
    __from: String(o.from.getTime()),
    __to: String(o.to.getTime()),
  };
}

function formatVariable(name: string, format: string | undefined, o: ExpandOptions): string {
  const globals = globalVariables(o);
  const g = globals[name];
  if (g !== undefined) return g;
  const v = o.variables[name];
  if (!v) throw new GrafanaExpansionError(`unknown template variable $${name}`);
  if (v.values.length === 0) throw new GrafanaExpansionError(`template variable $${name} has no value`);
  switch (format) {
    case undefined:
    case 'sqlstring':
      return v.multi ? v.values.map(quoteLiteral).join(',') : v.values[0]!.replace(/'/g, "''");
    case 'csv':
      return v.values.join(',');
    case 'raw':
      return v.values.join(',');
    case 'singlequote':
      return v.values.map(quoteLiteral).join(',');
    default:
      throw new GrafanaExpansionError(`unsupported variable format \${${name}:${format}}`);
  }
}

// The frontend's variable syntaxes: $name, [[name]] / [[name:format]], ${name} / ${name:format}.
const VARIABLE = /\$(\w+)(?!\w*\()|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?::([^}]+))?\}/g;

/** Step 1: template variables (Grafana's frontend). Macros `$__name(` are left for step 2. */
export function interpolateVariables(sql: string, o: ExpandOptions): string {
  return sql.replace(
    VARIABLE,
    (_m, plain?: string, bracket?: string, bracketFmt?: string, brace?: string, braceFmt?: string) => {
      if (plain !== undefined) return formatVariable(plain, undefined, o);
      if (bracket !== undefined) return formatVariable(bracket, bracketFmt, o);
      return formatVariable(brace!, braceFmt, o);
    },
  );
}

const MACRO = /\$(__\w+)\(([^)]*)\)/g;

/** Step 2: the PostgreSQL datasource's macros (Grafana's backend). */
export function expandMacros(sql: string, o: ExpandOptions): string {
  const from = `'${o.from.toISOString()}'`;
  const to = `'${o.to.toISOString()}'`;
  const fromS = Math.floor(o.from.getTime() / 1000);
  const toS = Math.floor(o.to.getTime() / 1000);
  const timeGroup = (args: string[], name: string): string => {
    if (args.length < 2 || !args[0])
      throw new GrafanaExpansionError(`${name} needs (column, interval[, fill])`);
    const seconds = parseInterval(args[1]!) / 1000;
    return o.timescaledb
      ? `time_bucket('${seconds.toFixed(3)}s',${args[0]})`
      : `floor(extract(epoch from ${args[0]})/${seconds})*${seconds}`;
  };
  const one = (args: string[], name: string): string => {
    if (args.length !== 1 || !args[0]) throw new GrafanaExpansionError(`${name} needs exactly one column`);
    return args[0];
  };
  return sql.replace(MACRO, (_m, name: string, rawArgs: string) => {
    const args = rawArgs
      .split(',')
      .map((a) => a.trim())
      .filter((a, _i, all) => a !== '' || all.length > 1);
    switch (name) {
      case '__time':
        return `${one(args, name)} AS "time"`;
      case '__timeEpoch':
        return `extract(epoch from ${one(args, name)}) as "time"`;
      case '__timeFilter':
        return `${one(args, name)} BETWEEN ${from} AND ${to}`;
      case '__timeFrom':
        return from;
      case '__timeTo':
        return to;
      case '__timeGroup':
        return timeGroup(args, name);
      case '__timeGroupAlias':
        return `${timeGroup(args, name)} AS "time"`;
      case '__unixEpochFilter':
        return `${one(args, name)} >= ${fromS} AND ${one(args, name)} <= ${toS}`;
      case '__unixEpochFrom':
        return String(fromS);
      case '__unixEpochTo':
        return String(toS);
      case '__unixEpochGroup':
      case '__unixEpochGroupAlias': {
        if (args.length < 2) throw new GrafanaExpansionError(`${name} needs (column, interval)`);
        const s = parseInterval(args[1]!) / 1000;
        return `floor((${args[0]})/${s})*${s}${name.endsWith('Alias') ? ' AS "time"' : ''}`;
      }
      default:
        throw new GrafanaExpansionError(`unknown macro $${name}(...)`);
    }
  });
}

/** Variables, then macros; throws when anything variable-like is left over. */
export function expandGrafanaSql(sql: string, o: ExpandOptions): string {
  const out = expandMacros(interpolateVariables(sql, o), o);
  const left = /\$(\w+)|\[\[\w+\]\]/.exec(out);
  if (left) throw new GrafanaExpansionError(`unexpanded ${left[0]} in query`);
  return out;
}
