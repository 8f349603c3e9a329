// A small RFC 4180 CSV reader for the fleet inventory: quoted fields (with "" escapes and line
// breaks inside), CRLF or LF, and the line number each record starts on, so errors can point at it.

export interface CsvRecord {
  /** 1-based line in the file where this record starts. */
  line: number;
  fields: string[];
}

export class CsvSyntaxError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

/** Splits text into records; blank lines and lines starting with `#` (outside quotes) are skipped. */
export function parseCsv(text: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  // A spreadsheet's UTF-8 export often starts with a byte-order mark.
  const src = text.startsWith("\uFEFF") ? text.slice(1) : text;
  let line = 1;
  let i = 0;
  while (i < src.length) {
    const start = line;
    // Comments and blank lines: operators annotate inventories by hand.
    if (src[i] === "#" || src[i] === "\n" || (src[i] === "\r" && src[i + 1] === "\n")) {
      const nl = src.indexOf("\n", i);
      i = nl < 0 ? src.length : nl + 1;
      line++;
      continue;
    }
    const fields: string[] = [];
    let field = "";
    let quoted = false;
    let wasQuoted = false;
    for (;;) {
      const c = src[i];
      if (c === undefined) {
        if (quoted)
          throw new CsvSyntaxError(start, "a quoted field is not closed before the end of the file");
        fields.push(field);
        break;
      }
      if (quoted) {
        if (c === '"' && src[i + 1] === '"') {
          field += '"';
          i += 2;
        } else if (c === '"') {
          quoted = false;
          i++;
        } else {
          if (c === "\n") line++;
          field += c;
          i++;
        }
        continue;
      }
      if (c === '"') {
        if (field.trim() !== "" || wasQuoted)
          throw new CsvSyntaxError(
            line,
            'a quote (") may only start a field; write "" inside a quoted field',
          );
        field = "";
        quoted = true;
        wasQuoted = true;
        i++;
      } else if (c === ",") {
        fields.push(field);
        field = "";
        wasQuoted = false;
        i++;
      } else if (c === "\n" || (c === "\r" && src[i + 1] === "\n")) {
        fields.push(field);
        i += c === "\r" ? 2 : 1;
        line++;
        break;
      } else if (wasQuoted && c !== " " && c !== "\t") {
        throw new CsvSyntaxError(line, "text follows a closing quote; quote the whole field");
      } else {
        if (!wasQuoted) field += c;
        i++;
      }
    }
    records.push({ line: start, fields });
  }
  return records;
}
