/**
 * The one place where values become text in another language. Every emitter quotes through
 * these functions, so a value can never end a string early or start a template or a new step.
 */

/**
 * An HCL string literal that bake reads back as exactly `value` (no interpolation, no directives).
 * HCL normalizes every string literal to Unicode NFC, escapes included (hclsyntax spec, "String
 * Literals"), so the value is normalized here: what we write is then what bake reads.
 */
export function hclString(raw: string): string {
  const value = raw.normalize("NFC");
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    const next = value[i + 1];
    if (ch === "\\") out += "\\\\";
    else if (ch === '"') out += '\\"';
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if ((ch === "$" || ch === "%") && next === "{") out += ch + ch;
    else if (ch < " " || ch === "\x7f") out += `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return `"${out}"`;
}

/** An HCL object key: bare when it is an identifier, quoted otherwise. */
export function hclKey(key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? key : hclString(key);
}

/** A single-quoted POSIX shell word that the shell reads back as exactly `value`. */
export function shellQuoted(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A JSON string, which is also what Dockerfile exec-form arrays and YAML double-quoted scalars accept. */
export function jsonString(value: string): string {
  return JSON.stringify(value);
}

/**
 * A Dockerfile ARG or ENV value that BuildKit's word parser reads back as exactly `value`: bare
 * when it holds only safe characters, else double-quoted with \\, " and $ escaped (so it is never
 * expanded). A control character cannot be written on one instruction line; validation keeps them
 * out, so meeting one here is a bug, and it stops the compile rather than split an instruction.
 */
export function dockerfileWord(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new Error(`a Dockerfile value cannot hold control characters: ${JSON.stringify(value)}`);
  if (value === "" || /^[A-Za-z0-9._/:@+,~%-]+$/.test(value)) return value;
  return `"${value.replace(/[\\"$]/g, (ch) => `\\${ch}`)}"`;
}

/** Text for a `#` comment line in any generated file: line breaks and control characters become spaces. */
export function commentText(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
  return text.replace(/[\u0000-\u001f\u007f\u0085\u2028\u2029]/g, " ");
}

/** Text for one Markdown table cell: pipes escaped, line breaks as spaces. */
export function markdownCell(text: string): string {
  return commentText(text).replace(/\|/g, "\\|");
}
