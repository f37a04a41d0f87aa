/** Plain-text building blocks shared by every listing: tables, colors, times. */

export interface Style {
  color: boolean;
}

const CODES = { red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, gray: 90, bold: 1 } as const;
export type ColorName = keyof typeof CODES;

export function paint(style: Style, color: ColorName | undefined, text: string): string {
  if (!style.color || color === undefined) return text;
  return `\u001b[${CODES[color]}m${text}\u001b[0m`;
}

/** Colors on only for a terminal, without --no-color, and without NO_COLOR in the environment. */
export function decideColor(
  flag: boolean | undefined,
  isTTY: boolean | undefined,
  env: NodeJS.ProcessEnv,
): boolean {
  if (flag === false) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return isTTY === true;
}

export interface Column<T> {
  header: string;
  value(row: T): string;
  color?(row: T): ColorName | undefined;
  align?: 'left' | 'right';
}

/** A whitespace-aligned table with a header line; the last column is not padded. */
export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[], style: Style): string {
  const cells = rows.map((r) => columns.map((c) => c.value(r)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[], colorOf: (i: number) => ColorName | undefined): string =>
    values
      .map((v, i) => {
        const last = i === values.length - 1;
        const col = columns[i]!;
        const padded = col.align === 'right' ? v.padStart(widths[i]!) : last ? v : v.padEnd(widths[i]!);
        return paint(style, colorOf(i), padded);
      })
      .join('  ')
      .trimEnd();
  const out = [
    line(
      columns.map((c) => c.header),
      () => (style.color ? 'bold' : undefined),
    ),
  ];
  for (const [ri, row] of cells.entries()) out.push(line(row, (i) => columns[i]!.color?.(rows[ri]!)));
  return `${out.join('\n')}\n`;
}

/** `3s ago`, `5m ago`, `2h ago`, `4d ago`; `never` for null. */
export function ago(iso: string | null, nowMs: number): string {
  if (iso === null) return 'never';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.max(0, Math.round((nowMs - t) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

export function hz(v: number | null): string {
  if (v === null) return '-';
  return Number.isInteger(v) ? `${v}` : `${Number(v.toPrecision(4))}`;
}

export function ms(v: number | null): string {
  if (v === null) return '-';
  return v >= 100 ? `${Math.round(v)} ms` : `${v.toFixed(1)} ms`;
}

export function stateColor(state: string | null, online = true): ColorName | undefined {
  if (!online || state === 'OFFLINE') return 'gray';
  if (state === 'AWAKE') return 'green';
  if (state === 'ASLEEP') return 'yellow';
  return undefined;
}

export function statusColor(status: string): ColorName | undefined {
  switch (status) {
    case 'APPLIED':
    case 'PUBLISHED':
      return 'green';
    case 'REJECTED':
    case 'UNROUTABLE':
    case 'FAILED':
      return 'red';
    case 'EXPIRED':
    case 'TIMED_OUT':
      return 'yellow';
    default:
      return undefined;
  }
}

export function severityColor(severity: string): ColorName | undefined {
  switch (severity) {
    case 'CRITICAL':
      return 'red';
    case 'MAJOR':
      return 'magenta';
    case 'WARNING':
      return 'yellow';
    default:
      return 'cyan';
  }
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
