/**
 * Splits a SQL script into top-level statements at `;`, respecting
 * '...' / E'...' strings, "identifiers", $tag$ dollar quotes, -- line comments
 * and nested block comments. Statements that hold only whitespace and
 * comments are dropped. Used for files that run outside a transaction, where
 * each statement must be sent on its own (a multi-statement query string is
 * one implicit transaction in PostgreSQL).
 */
export function splitSqlStatements(script: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let hasCode = false;
  let i = 0;
  const n = script.length;

  const flush = (end: number) => {
    const text = script.slice(start, end).trim();
    if (hasCode && text !== '') statements.push(text);
    hasCode = false;
  };

  while (i < n) {
    const c = script[i]!;
    const next = script[i + 1];
    if (c === '-' && next === '-') {
      const eol = script.indexOf('\n', i);
      i = eol === -1 ? n : eol + 1;
    } else if (c === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (script[i] === '/' && script[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (script[i] === '*' && script[i + 1] === '/') {
          depth--;
          i += 2;
        } else {
          i++;
        }
      }
    } else if (c === "'") {
      const prev = script[i - 1];
      const escapes = (prev === 'E' || prev === 'e') && !/[A-Za-z0-9_]/.test(script[i - 2] ?? '');
      hasCode = true;
      i++;
      while (i < n) {
        if (escapes && script[i] === '\\') {
          i += 2;
        } else if (script[i] === "'") {
          if (script[i + 1] === "'") i += 2;
          else {
            i++;
            break;
          }
        } else {
          i++;
        }
      }
    } else if (c === '"') {
      hasCode = true;
      const close = script.indexOf('"', i + 1);
      i = close === -1 ? n : close + 1;
      // a doubled "" inside an identifier is handled by the next loop turn
    } else if (c === '$') {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(script.slice(i));
      const prev = script[i - 1] ?? '';
      if (tag && !/[A-Za-z0-9_]/.test(prev)) {
        hasCode = true;
        const close = script.indexOf(tag[0], i + tag[0].length);
        i = close === -1 ? n : close + tag[0].length;
      } else {
        hasCode = true;
        i++;
      }
    } else if (c === ';') {
      flush(i);
      i++;
      start = i;
    } else {
      if (!/\s/.test(c)) hasCode = true;
      i++;
    }
  }
  flush(n);
  return statements;
}
