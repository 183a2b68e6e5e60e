// The row-by-row peer of bench/load.sh: what a hand-written migration script does, one
// awaited, parameterised INSERT per row (each its own transaction), with node-postgres.
//
// usage: node peer.js MANIFEST [SECONDS]
//   MANIFEST: JSON [{"table": "\"public\".\"users\"" (quoted), "columns": ["id", ...],
//             "overriding": false, "file": "/path/users.copy"}, ...] in load order
//             (parents first); each file holds rows in PostgreSQL's COPY text format.
//   SECONDS:  stop after this many seconds of inserting (default: no cap).
// The connection comes from the libpq-style environment (PGHOST, PGPORT, PGUSER,
// PGDATABASE), which node-postgres reads. Prints one JSON line on stdout:
//   {"rows": N, "seconds": S, "capped": bool}
// where seconds is the inserting time (connect excluded). Exits 1 on any error.
'use strict';

const fs = require('fs');
const readline = require('readline');
const { Client } = require('pg');

// One field of COPY text format: \N is NULL; backslash escapes as PostgreSQL writes
// them (\b \f \n \r \t \v \\, octal \NNN, hex \xHH). Bytes decoded from octal or hex
// are UTF-8 encoded text, so the field is rebuilt as bytes.
function unescapeField(field) {
  if (field === '\\N') return null;
  if (field.indexOf('\\') < 0) return field;
  const simple = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
  const out = [];
  let text = '';
  const flush = () => {
    if (text) {
      out.push(Buffer.from(text, 'utf8'));
      text = '';
    }
  };
  for (let i = 0; i < field.length; i++) {
    const c = field[i];
    if (c !== '\\' || i + 1 === field.length) {
      text += c;
      continue;
    }
    const n = field[++i];
    if (simple[n] !== undefined) {
      text += simple[n];
    } else if (n >= '0' && n <= '7') {
      let digits = n;
      while (digits.length < 3 && field[i + 1] >= '0' && field[i + 1] <= '7') digits += field[++i];
      flush();
      out.push(Buffer.from([parseInt(digits, 8) & 0xff]));
    } else if (n === 'x' && /[0-9a-fA-F]/.test(field[i + 1] || '')) {
      let digits = field[++i];
      if (/[0-9a-fA-F]/.test(field[i + 1] || '')) digits += field[++i];
      flush();
      out.push(Buffer.from([parseInt(digits, 16)]));
    } else {
      text += n;
    }
  }
  flush();
  return Buffer.concat(out).toString('utf8');
}

function quoteIdent(name) {
  return '"' + name.replace(/"/g, '""') + '"';
}

async function loadTable(client, entry, deadline, done) {
  const cols = entry.columns;
  const params = cols.map((_, i) => '$' + (i + 1)).join(', ');
  const sql = `INSERT INTO ${entry.table} (${cols.map(quoteIdent).join(', ')})` +
    (entry.overriding ? ' OVERRIDING SYSTEM VALUE' : '') + ` VALUES (${params})`;
  const lines = readline.createInterface({
    input: fs.createReadStream(entry.file, { encoding: 'utf8' }),
    crlfDelay: Infinity,
  });
  for await (const line of lines) {
    if (Date.now() > deadline) {
      lines.close();
      return true;
    }
    const values = line.split('\t').map(unescapeField);
    if (values.length !== cols.length)
      throw new Error(`${entry.table}: a row of ${values.length} fields for ${cols.length} columns`);
    await client.query(sql, values);
    done.rows++;
  }
  return false;
}

async function main() {
  const [manifestFile, cap] = process.argv.slice(2);
  if (!manifestFile) throw new Error('usage: node peer.js MANIFEST [SECONDS]');
  const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
  const client = new Client();
  await client.connect();
  const start = process.hrtime.bigint();
  const deadline = cap ? Date.now() + Number(cap) * 1000 : Infinity;
  const done = { rows: 0 };
  let capped = false;
  try {
    for (const entry of manifest) {
      capped = await loadTable(client, entry, deadline, done);
      if (capped) break;
    }
  } finally {
    await client.end();
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(JSON.stringify({ rows: done.rows, seconds, capped }));
}

main().catch((err) => {
  console.error(`peer: ${err.message}`);
  process.exit(1);
});
