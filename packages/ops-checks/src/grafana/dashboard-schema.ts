/**
 * A focused JSON schema of the Grafana dashboard model (schemaVersion 36+):
 * the fields Grafana needs to load and render a provisioned dashboard. Grafana
 * publishes its schema as CUE/TypeScript, not as a small JSON schema, so this
 * covers what our dashboards use; cross-references (unique uids and ids,
 * datasources that exist, variables that are defined, grid layout) are
 * checked in code by dashboard-validator.ts.
 */

/** Panel types shipped with Grafana 10/11 core. */
export const CORE_PANEL_TYPES = [
  'row',
  'timeseries',
  'stat',
  'gauge',
  'bargauge',
  'barchart',
  'table',
  'piechart',
  'state-timeline',
  'status-history',
  'heatmap',
  'histogram',
  'geomap',
  'text',
  'logs',
  'nodeGraph',
  'trend',
  'xychart',
  'candlestick',
  'canvas',
  'news',
  'dashlist',
  'alertlist',
  'annolist',
  'traces',
  'flamegraph',
  'datagrid',
] as const;

/** JSON schema's if/then/else (built here: a literal `then` key reads as a thenable to linters). */
function when(ifSchema: object, thenSchema: object, elseSchema?: object): object {
  const entries: Array<[string, object]> = [
    ['if', ifSchema],
    ['then', thenSchema],
  ];
  if (elseSchema) entries.push(['else', elseSchema]);
  return Object.fromEntries(entries);
}

const datasourceRef = {
  type: 'object',
  required: ['type', 'uid'],
  properties: { type: { type: 'string', minLength: 1 }, uid: { type: 'string', minLength: 1 } },
};

const target = {
  type: 'object',
  required: ['refId'],
  properties: {
    refId: { type: 'string', pattern: '^[A-Za-z0-9_]{1,20}$' },
    datasource: datasourceRef,
    hide: { type: 'boolean' },
  },
  allOf: [
    when(
      {
        required: ['datasource'],
        properties: {
          datasource: { properties: { type: { enum: ['grafana-postgresql-datasource', 'postgres'] } } },
        },
      },
      {
        required: ['rawSql', 'format', 'rawQuery'],
        properties: {
          rawSql: { type: 'string', minLength: 1 },
          format: { enum: ['table', 'time_series', 'logs'] },
          rawQuery: { const: true },
          editorMode: { const: 'code' },
        },
      },
    ),
    when(
      {
        required: ['datasource'],
        properties: { datasource: { properties: { type: { const: 'prometheus' } } } },
      },
      {
        required: ['expr'],
        properties: {
          expr: { type: 'string', minLength: 1 },
          legendFormat: { type: 'string' },
          instant: { type: 'boolean' },
          range: { type: 'boolean' },
        },
      },
    ),
  ],
};

const gridPos = {
  type: 'object',
  required: ['x', 'y', 'w', 'h'],
  properties: {
    x: { type: 'integer', minimum: 0, maximum: 23 },
    y: { type: 'integer', minimum: 0 },
    w: { type: 'integer', minimum: 1, maximum: 24 },
    h: { type: 'integer', minimum: 1 },
  },
};

const fieldConfig = {
  type: 'object',
  required: ['defaults', 'overrides'],
  properties: {
    defaults: { type: 'object' },
    overrides: {
      type: 'array',
      items: {
        type: 'object',
        required: ['matcher', 'properties'],
        properties: {
          matcher: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
          properties: {
            type: 'array',
            items: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
          },
        },
      },
    },
  },
};

const panel = {
  type: 'object',
  required: ['id', 'type', 'title', 'gridPos'],
  properties: {
    id: { type: 'integer', minimum: 1 },
    type: { enum: CORE_PANEL_TYPES },
    title: { type: 'string' },
    description: { type: 'string' },
    gridPos,
    datasource: datasourceRef,
    targets: { type: 'array', items: target },
    fieldConfig,
    options: { type: 'object' },
    transparent: { type: 'boolean' },
    collapsed: { type: 'boolean' },
    panels: { type: 'array', items: { $ref: '#/definitions/panel' } },
  },
  allOf: [
    when(
      { properties: { type: { const: 'row' } } },
      { required: ['panels'], properties: { targets: { maxItems: 0 } } },
      { properties: { panels: { maxItems: 0 } } },
    ),
    // a panel that queries needs a datasource and at least one target
    when(
      {
        properties: { type: { not: { enum: ['row', 'text', 'news', 'dashlist', 'alertlist', 'annolist'] } } },
      },
      { required: ['datasource', 'targets'], properties: { targets: { minItems: 1 } } },
    ),
  ],
};

const variable = {
  type: 'object',
  required: ['name', 'type'],
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
    label: { type: 'string' },
    type: { enum: ['query', 'custom', 'constant', 'interval', 'datasource', 'textbox', 'adhoc'] },
    multi: { type: 'boolean' },
    includeAll: { type: 'boolean' },
    hide: { enum: [0, 1, 2] },
    refresh: { enum: [0, 1, 2] },
    datasource: datasourceRef,
  },
  allOf: [
    when({ properties: { type: { const: 'query' } } }, { required: ['datasource', 'query', 'refresh'] }),
    when(
      { properties: { type: { const: 'custom' } } },
      { required: ['query'], properties: { query: { type: 'string', minLength: 1 } } },
    ),
  ],
};

export const dashboardSchema = {
  $id: 'sensor-streaming/grafana-dashboard',
  type: 'object',
  required: ['uid', 'title', 'schemaVersion', 'panels', 'time', 'templating'],
  definitions: { panel },
  properties: {
    id: { type: ['integer', 'null'] },
    uid: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,40}$' },
    title: { type: 'string', minLength: 1 },
    description: { type: 'string' },
    tags: { type: 'array', items: { type: 'string' } },
    schemaVersion: { type: 'integer', minimum: 36 },
    version: { type: 'integer', minimum: 0 },
    editable: { type: 'boolean' },
    graphTooltip: { enum: [0, 1, 2] },
    timezone: { type: 'string' },
    refresh: { anyOf: [{ type: 'string' }, { const: false }] },
    time: {
      type: 'object',
      required: ['from', 'to'],
      properties: { from: { type: 'string', minLength: 1 }, to: { type: 'string', minLength: 1 } },
    },
    templating: {
      type: 'object',
      required: ['list'],
      properties: { list: { type: 'array', items: variable } },
    },
    annotations: {
      type: 'object',
      required: ['list'],
      properties: {
        list: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name', 'datasource'],
            properties: { datasource: datasourceRef },
          },
        },
      },
    },
    links: { type: 'array', items: { type: 'object', required: ['type', 'title'] } },
    panels: { type: 'array', items: { $ref: '#/definitions/panel' } },
  },
} as const;
