// Reads back what sluice wrote, with readers that share no code with it, for the integration-formats
// tests (tests/test_formats_readers.cpp):
//
//   node read.mjs <plan.json>
//
// plan.json is a list of queries: {"id": "...", "duckdb": "<SQL>"} runs the SQL in an in-memory DuckDB;
// {"id": "...", "hyparquet": "<file>"} reads a Parquet file with hyparquet (+ hyparquet-compressors).
// Prints one JSON object to stdout: {"<id>": {"columns": [...], "types": [...], "rows": [[...], ...]}}
// or {"<id>": {"error": "..."}}. 64-bit integers are printed as strings (JSON numbers would round them);
// doubles as JavaScript prints them (the shortest text that reads back as the same double);
// hyparquet's timestamps as milliseconds since the epoch, its JSON columns as the JSON they hold.
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { readFileSync } from 'node:fs';

const plan = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const out = {};
let db = null;
let connection = null;

function plain(value) {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.getTime();
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    const o = {};
    for (const [k, v] of Object.entries(value)) o[k] = plain(v);
    return o;
  }
  return value;
}

for (const query of plan) {
  try {
    if (query.duckdb !== undefined) {
      if (!connection) {
        db = await DuckDBInstance.create(':memory:');
        connection = await db.connect();
      }
      const result = await connection.runAndReadAll(query.duckdb);
      out[query.id] = {
        columns: result.columnNames(),
        types: result.columnTypes().map(String),
        rows: result.getRowsJson(),
      };
    } else if (query.hyparquet !== undefined) {
      const bytes = readFileSync(query.hyparquet);
      const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      const metadata = parquetMetadata(file);
      const columns = metadata.schema.slice(1).map((e) => e.name);
      const rows = await parquetReadObjects({ file, compressors });
      out[query.id] = {
        columns,
        codecs: metadata.row_groups.flatMap((g) => g.columns.map((c) => c.meta_data.codec)),
        encoding_stats: metadata.row_groups.map((g) => g.columns.map((c) => plain(c.meta_data.encoding_stats ?? []))),
        rows: rows.map((r) => columns.map((c) => plain(r[c]))),
      };
    } else {
      out[query.id] = { error: 'a query names neither duckdb nor hyparquet' };
    }
  } catch (e) {
    out[query.id] = { error: String(e && e.message ? e.message : e) };
  }
}
process.stdout.write(JSON.stringify(out));
