// CSV files of rows: a `toNumber` column plus one column per input (RFC 4180:
// comma-separated, fields may be quoted with "..." and contain commas, newlines and
// "" for a quote). Each row remembers the line of the file it starts on, so that the
// API's problems (`rows[3].toNumber`) can be shown as "line 5".

/** Records of `text`: [{fields: [...], line: N}] (N counts from 1). */
export function parseRecords(text) {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a byte order mark
  const records = [];
  let fields = [];
  let field = "";
  let quoted = false;
  let line = 1;
  let startLine = 1;
  let fieldStarted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 1;
        } else {
          quoted = false;
        }
      } else {
        if (c === "\n") line += 1;
        field += c;
      }
      continue;
    }
    if (c === '"' && !fieldStarted) {
      quoted = true;
      fieldStarted = true;
    } else if (c === ",") {
      fields.push(field);
      field = "";
      fieldStarted = false;
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i += 1;
      fields.push(field);
      records.push({ fields, line: startLine });
      fields = [];
      field = "";
      fieldStarted = false;
      line += 1;
      startLine = line;
    } else {
      field += c;
      fieldStarted = true;
    }
  }
  if (quoted) throw new Error(`line ${startLine}: a quoted field is not closed`);
  if (fieldStarted || fields.length) {
    fields.push(field);
    records.push({ fields, line: startLine });
  }
  // Blank lines carry nothing.
  return records.filter((r) => !(r.fields.length === 1 && r.fields[0].trim() === ""));
}

/**
 * The create body's `rows` from a CSV text, and the file line of each row.
 * Throws Error with a message for the user when the file cannot be used at all.
 */
export function rowsFromCsv(text) {
  const records = parseRecords(text);
  if (!records.length) throw new Error("the file is empty");
  const header = records[0].fields.map((h) => h.trim());
  const toIndex = header.indexOf("toNumber");
  if (toIndex < 0) {
    throw new Error(`line ${records[0].line}: the first line must name a "toNumber" column ` +
      `(found: ${header.map((h) => JSON.stringify(h)).join(", ")})`);
  }
  const seen = new Set();
  header.forEach((name, i) => {
    if (!name) throw new Error(`line ${records[0].line}: column ${i + 1} has no name`);
    if (seen.has(name)) throw new Error(`line ${records[0].line}: column "${name}" appears twice`);
    seen.add(name);
  });
  const rows = [];
  const lines = [];
  for (const record of records.slice(1)) {
    if (record.fields.length !== header.length) {
      throw new Error(`line ${record.line}: ${record.fields.length} fields, ` +
        `but the first line names ${header.length} columns`);
    }
    const inputs = {};
    header.forEach((name, i) => {
      if (i !== toIndex) inputs[name] = record.fields[i];
    });
    rows.push({ toNumber: record.fields[toIndex].trim(), inputs });
    lines.push(record.line);
  }
  if (!rows.length) throw new Error("the file has a header line but no rows");
  return { rows, lines, inputs: header.filter((_, i) => i !== toIndex) };
}

/** An API problem path as the user knows it: `rows[3].toNumber` → line 5, toNumber. */
export function describeProblem(path, lines) {
  const match = /^rows\[(\d+)\](?:\.(.*))?$/.exec(path || "");
  if (!match || lines[Number(match[1])] === undefined) return { where: path || "job", line: null };
  const index = Number(match[1]);
  return {
    where: `line ${lines[index]} (row ${index + 1})` + (match[2] ? `, ${match[2]}` : ""),
    line: lines[index],
  };
}
