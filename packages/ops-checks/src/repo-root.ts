import { fileURLToPath } from 'node:url';

/** The repository root (same relative depth from src/ and dist/). */
export function repoRoot(): string {
  return fileURLToPath(new URL('../../../', import.meta.url));
}
