import { markdownCell } from "../quote.ts";
import type { Schema } from "./config-types.ts";
import { generatedHeader } from "./header.ts";

/**
 * docs/config.md from config/schema.json: one section per table of config/iopaint.toml, one row
 * per key with its type, whether it is required, its default and what it means. Written from the
 * same schema ajv enforces and editors show on hover, so the three cannot disagree.
 */
export function emitConfigDocs(schema: Schema, schemaFile: string): string {
  const definitions = schema.definitions ?? {};
  const deref = (node: Schema): Schema => {
    if (!node.$ref) return node;
    const target = deref(definitions[node.$ref.replace("#/definitions/", "")]);
    // A property's own words win over its definition's; the definition says the format.
    return { ...target, ...node, $ref: undefined, title: node.title ?? target.title ?? target.description, description: node.description ?? target.description };
  };
  const sections: string[] = [];

  const section = (path: string, node: Schema) => {
    const rows: string[] = [];
    const children: [string, Schema][] = [];
    for (const [key, raw] of Object.entries(node.properties ?? {})) {
      const child = deref(raw);
      const required = node.required?.includes(key) ?? false;
      if (child.type === "object" && child.properties) {
        children.push([`${path}.${key}`, child]);
        rows.push(row(key, "table", required, undefined, `${sentence(child.description ?? "")} See [${path}.${key}](#${anchor(`${path}.${key}`)}).`));
      } else if (child.type === "object" && typeof child.additionalProperties === "object") {
        children.push([`${path}.${key}.<name>`, deref(child.additionalProperties)]);
        rows.push(row(key, "tables by name", required, undefined, `${sentence(child.description ?? "")} See [${path}.${key}.<name>](#${anchor(`${path}.${key}.<name>`)}).`));
      } else {
        rows.push(row(key, typeOf(child, deref), required, child.default, describe(child, deref)));
      }
    }
    const heading = `## \`[${path}]\``;
    sections.push([heading, "", node.description ?? "", "", "| Key | Type | Required | Default | Description |", "| --- | --- | --- | --- | --- |", ...rows, ""].join("\n"));
    for (const [childPath, child] of children) section(childPath, child);
  };

  const toc: string[] = [];
  for (const [key, raw] of Object.entries(schema.properties ?? {})) {
    const node = deref(raw);
    const named = typeof node.additionalProperties === "object" && deref(node.additionalProperties).properties ? `${key}.<name>` : undefined;
    toc.push(`[\`${named ?? key}\`](#${anchor(named ?? key)})`);
    if (node.properties) section(key, node);
    else if (named) section(named, { ...deref(node.additionalProperties as Schema), description: node.description });
    else {
      const entry = deref(node.additionalProperties as Schema);
      sections.push([`## \`[${key}]\``, "", node.description ?? "", "", `Each key is a name; its value is a ${typeOf(entry, deref)}. ${describe(entry, deref)}`, ""].join("\n"));
    }
  }

  return [
    generatedHeader("<!--", schemaFile, "npm run generate"),
    "# config/iopaint.toml reference",
    "",
    schema.description ?? "",
    "",
    "Every key below is checked by `npm run validate` (the schema, then the version compatibility",
    "table in generator/compat/table.json). A key with a default may be left out. Names written",
    "`<name>` are yours to choose: lower-case letters, digits and dashes, starting with a letter.",
    "Editors with taplo (Even Better TOML) show the same descriptions on hover, from the file's",
    "`#:schema` line.",
    "",
    `Tables: ${toc.join(" · ")}`,
    "",
    ...sections,
  ].join("\n");
}

function row(key: string, type: string, required: boolean, defaultValue: unknown, description: string): string {
  const shown = defaultValue === undefined ? "" : `\`${JSON.stringify(defaultValue)}\``;
  return `| \`${key}\` | ${markdownCell(type)} | ${required ? "yes" : "no"} | ${markdownCell(shown)} | ${markdownCell(description.trim())} |`;
}

function typeOf(node: Schema, deref: (node: Schema) => Schema): string {
  if (node.enum) return node.enum.map((value) => JSON.stringify(value)).join(" or ");
  if (node.type === "array" && node.items) return `list of ${typeOf(deref(node.items), deref)}`;
  if (node.type === "integer" && (node.minimum !== undefined || node.maximum !== undefined)) return `integer ${node.minimum ?? ""}–${node.maximum ?? ""}`;
  return node.type ?? "any";
}

function describe(node: Schema, deref: (node: Schema) => Schema): string {
  const item = node.type === "array" && node.items ? deref(node.items) : undefined;
  const format = (item ?? node).pattern ? (item ?? node).title : undefined;
  const example = node.examples?.[0] ?? item?.examples?.[0];
  return [
    node.description ? sentence(node.description) : "",
    format && format !== node.description ? `Format: ${lowerFirst(format).replace(/\.$/, "")}.` : "",
    example !== undefined ? `Example: \`${JSON.stringify(example)}\`.` : "",
  ]
    .filter(Boolean)
    .join(" ");
}

function sentence(text: string): string {
  return /[.!?]$/.test(text.trim()) ? text.trim() : `${text.trim()}.`;
}

function lowerFirst(text: string): string {
  return /^[A-Z](?![A-Z])/.test(text) ? text.charAt(0).toLowerCase() + text.slice(1) : text;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes. */
function anchor(path: string): string {
  return `${path}`
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, "")
    .replace(/ /g, "-");
}
