import { describe, expect, it } from 'vitest';
import { splitSqlStatements } from './split-sql.js';

describe('splitSqlStatements', () => {
  it('splits top-level statements and drops comment-only ones', () => {
    const sql = `-- header\nCREATE TABLE a (x int);\n/* block ; */\nCREATE INDEX CONCURRENTLY a_x ON a (x);\n-- trailing ; comment\n`;
    expect(splitSqlStatements(sql)).toEqual([
      '-- header\nCREATE TABLE a (x int)',
      '/* block ; */\nCREATE INDEX CONCURRENTLY a_x ON a (x)',
    ]);
  });

  it('keeps semicolons inside strings, identifiers, dollar quotes and nested comments', () => {
    const sql = [
      "INSERT INTO t VALUES ('a;b', 'it''s;', E'x\\';y')",
      'SELECT 1 AS "weird;name"',
      'DO $$ BEGIN PERFORM 1; END $$',
      'DO $body$ BEGIN EXECUTE $q$SELECT 1;$q$; END $body$',
      '/* outer /* inner ; */ still comment ; */ SELECT 2',
    ].join(';\n');
    expect(splitSqlStatements(`${sql};`)).toHaveLength(5);
    expect(splitSqlStatements(sql)[3]).toBe('DO $body$ BEGIN EXECUTE $q$SELECT 1;$q$; END $body$');
  });

  it('does not mistake a positional parameter for a dollar quote', () => {
    expect(splitSqlStatements('SELECT $1; SELECT $2')).toEqual(['SELECT $1', 'SELECT $2']);
  });

  it('returns nothing for an empty or comment-only script', () => {
    expect(splitSqlStatements('')).toEqual([]);
    expect(splitSqlStatements('-- nothing here;\n/* ; */ ;;')).toEqual([]);
  });
});
