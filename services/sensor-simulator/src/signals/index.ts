import { environmentKind } from './environment.js';
import { processKind } from './process.js';
import type { KindSpec, SensorKind } from './signal-model.js';
import { vibrationKind } from './vibration.js';

export const KINDS: Readonly<Record<SensorKind, KindSpec>> = {
  vibration: vibrationKind,
  environment: environmentKind,
  process: processKind,
};
