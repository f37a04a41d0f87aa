import { parser } from '@prometheus-io/lezer-promql';

/** Grafana's Prometheus variables, replaced by sample values before parsing. */
const GRAFANA_PROM_VARIABLES: Record<string, string> = {
  __rate_interval: '1m',
  __interval: '15s',
  __range: '1h',
};

/**
 * Syntax problems of a PromQL expression as Prometheus' own grammar (the
 * lezer-promql parser its UI uses) sees it; empty = parses. Grafana's
 * `$__rate_interval`-style variables are substituted first.
 */
export function promqlProblems(expr: string): string[] {
  const text = expr.replace(
    /\$(\w+)|\$\{(\w+)\}/g,
    (m, a?: string, b?: string) => GRAFANA_PROM_VARIABLES[(a ?? b)!] ?? m,
  );
  if (/\$\w|\$\{/.test(text)) return [`unknown variable in ${JSON.stringify(expr)}`];
  const problems: string[] = [];
  parser.parse(text).iterate({
    enter: (node) => {
      if (node.type.isError) {
        problems.push(
          `syntax error at ${node.from}: ${JSON.stringify(text.slice(Math.max(0, node.from - 15), node.to + 15))}`,
        );
      }
    },
  });
  return problems;
}
