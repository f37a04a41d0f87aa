/**
 * Thrown when configuration is invalid. Lists every problem at once, one per
 * line, each naming the variable and why it was rejected.
 */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly permanent = true;
  readonly problems: string[];

  constructor(problems: string[]) {
    const n = problems.length;
    super(
      `Invalid configuration (${n} problem${n === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
