// CSV files of rows, read as the API reads them (producer/rowformats.py): a `toNumber`
// column, optional row-field and consent columns, and one column per input (RFC 4180:
// comma-separated, fields may be quoted with "..." and contain commas, newlines and
// "" for a quote). Each row remembers the line of the file it starts on, so that the
// API's problems (`rows[3].toNumber`) can be shown as "line 5".
//
// A large file is never read whole here: the preview parses the file's head
// (`readHead`), and `countRows` counts its rows by streaming it in slices.

// The columns that are row fields, not inputs: copies of RESERVED_COLUMNS and
// CONSENT_COLUMNS in producer/rowformats.py (tests/unit/test_csv_columns_js.py fails
// when they differ). Matched exactly, as the API matches them.
export const ROW_FIELD_COLUMNS = ["toNumber", "externalId", "timezone", "expiresAt", "callAgentId", "state"];
export const CONSENT_COLUMNS = { "consent": "type", "consentCapturedAt": "capturedAt", "consentSource": "source" };

/** The head read for a preview, and the most it grows to for one long first row. */
export const HEAD_BYTES = 256 * 1024;
const MAX_HEAD_BYTES = 4 * 1024 * 1024;
/** The slice `countRows` reads at a time. */
export const COUNT_SLICE_BYTES = 1024 * 1024;

/**
 * Records of `text`: [{fields: [...], line: N}] (N counts from 1). With `partial`, the
 * text is the head of a file: a last record not ended by a line break is left out.
 */
export function parseRecords(text, partial = false) {
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
  if (!partial) {
    if (quoted) throw new Error(`line ${startLine}: a quoted field is not closed`);
    if (fieldStarted || fields.length) {
      fields.push(field);
      records.push({ fields, line: startLine });
    }
  }
  return records.filter((r) => !isBlank(r));
}

/** A blank line carries nothing (the API skips it too). */
function isBlank(record) {
  return record.fields.length === 1 && record.fields[0].trim() === "";
}

/** One record as a row, as the API's `row_of_csv` makes it. */
function rowOf(header, fields) {
  const row = {};
  const inputs = {};
  header.forEach((name, i) => {
    const value = fields[i];
    if (name === "toNumber") {
      row.toNumber = value.trim();
    } else if (ROW_FIELD_COLUMNS.includes(name)) {
      if (value.trim()) row[name] = value.trim();
    } else if (Object.hasOwn(CONSENT_COLUMNS, name)) {
      if (value.trim()) (row.consent ||= {})[CONSENT_COLUMNS[name]] = value.trim();
    } else {
      inputs[name] = value;
    }
  });
  row.inputs = inputs;
  return row;
}

/**
 * The create body's `rows` from a CSV text, the file line of each row, the row-field
 * columns (`fields`, in the file's order) and the inputs. With `partial`, the text is
 * the head of a larger file (see parseRecords). Throws Error with a message for the
 * user when the file cannot be used at all.
 */
export function rowsFromCsv(text, partial = false) {
  const records = parseRecords(text, partial);
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
    rows.push(rowOf(header, record.fields));
    lines.push(record.line);
  }
  if (!rows.length && !partial) throw new Error("the file has a header line but no rows");
  const isField = (name) => ROW_FIELD_COLUMNS.includes(name) || Object.hasOwn(CONSENT_COLUMNS, name);
  return {
    rows,
    lines,
    fields: header.filter((name) => name !== "toNumber" && isField(name)),
    inputs: header.filter((name) => !isField(name)),
  };
}

/**
 * The preview of a file (a Blob): its first rows, read from the head alone, and
 * whether they are all of it (`whole`). The head grows only while it does not hold
 * one row after the header.
 */
export async function readHead(blob) {
  for (let size = HEAD_BYTES; ; size *= 2) {
    const whole = blob.size <= size;
    const parsed = rowsFromCsv(await blob.slice(0, size).text(), !whole);
    if (whole || parsed.rows.length) return { ...parsed, whole };
    if (size >= MAX_HEAD_BYTES) {
      throw new Error(`the first ${MAX_HEAD_BYTES / 1024 / 1024} MiB hold no complete row`);
    }
  }
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;
const isAsciiSpace = (b) => b === 0x20 || (b >= 0x09 && b <= 0x0d);

/**
 * The rows of a file (a Blob) as the API counts them (records after the header, blank
 * lines skipped), read in slices of COUNT_SLICE_BYTES so that the file is never held.
 * The bytes are read as parseRecords reads the text (quotes, commas and line breaks are
 * ASCII, never part of a UTF-8 sequence); a line that may be blank is decoded and read
 * by parseRecords itself. `onProgress(bytesRead)` after each slice; `stop()` true ends
 * the count early (it then answers null).
 */
export async function countRows(blob, onProgress = () => {}, stop = () => false) {
  let records = 0;
  let quoted = false;
  let fieldStarted = false;
  let afterCR = false;
  let closing = false; // the last byte was a quote that ends a quoted field, unless "" follows
  let comma = false; // the record has a comma outside quotes: it is not blank
  let candidate = []; // the bytes of a record that may yet be blank
  let content = false; // ... or it has shown it is not
  let empty = true; // nothing at all since the record began
  let line = 1;
  let startLine = 1;
  const endRecord = () => {
    if (!empty && (comma || content || !maybeBlank(candidate))) records += 1;
    quoted = fieldStarted = closing = comma = content = false;
    candidate = [];
    empty = true;
    line += 1;
    startLine = line;
  };
  for (let offset = 0; offset < blob.size; offset += COUNT_SLICE_BYTES) {
    if (stop()) return null;
    const bytes = new Uint8Array(await blob.slice(offset, offset + COUNT_SLICE_BYTES).arrayBuffer());
    for (let i = 0; i < bytes.length; i += 1) {
      const b = bytes[i];
      if (afterCR) {
        afterCR = false;
        if (b === LF) continue;
      }
      if (closing) {
        closing = false;
        if (b === QUOTE) { // "" in a quoted field: a quote, and the field goes on
          quoted = true;
          content = true;
          continue;
        }
      }
      if (quoted) {
        if (b === QUOTE) {
          quoted = false;
          closing = true;
        } else if (b === LF) {
          line += 1;
        }
      } else if (b === QUOTE && !fieldStarted) {
        quoted = true;
        fieldStarted = true;
      } else if (b === COMMA) {
        comma = true;
        fieldStarted = false;
      } else if (b === LF || b === CR) {
        afterCR = b === CR;
        endRecord();
        continue;
      } else {
        fieldStarted = true;
      }
      empty = false;
      if (!comma && !content) {
        if (b < 0x80 && b !== QUOTE && !isAsciiSpace(b)) content = true;
        else candidate.push(b);
      }
    }
    onProgress(Math.min(blob.size, offset + COUNT_SLICE_BYTES));
  }
  if (quoted) throw new Error(`line ${startLine}: a quoted field is not closed`);
  if (!empty) endRecord();
  return Math.max(0, records - 1); // the header is not a row
}

/** Whether the bytes of a record without a comma are a blank line to parseRecords. */
function maybeBlank(bytes) {
  const text = new TextDecoder().decode(new Uint8Array(bytes));
  return parseRecords(text + "\n").length === 0;
}

/**
 * An API problem as the user knows it: `rows[3].toNumber` → line 5, toNumber. The line
 * is the preview's for the rows it read, else the one the API's `message` begins with
 * ("line 9000: ...") for a row past the preview.
 */
export function describeProblem(path, lines, message = "") {
  const match = /^rows\[(\d+)\](?:\.(.*))?$/.exec(path || "");
  if (!match) return { where: path || "job", line: null };
  const index = Number(match[1]);
  const told = /^line (\d+): /.exec(message || "");
  const line = lines[index] ?? (told ? Number(told[1]) : undefined);
  if (line === undefined) return { where: path, line: null };
  return {
    where: `line ${line} (row ${index + 1})` + (match[2] ? `, ${match[2]}` : ""),
    line,
  };
}
