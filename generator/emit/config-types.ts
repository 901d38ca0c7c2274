import { generatedHeader } from "./header.ts";

/**
 * Emits generator/config-types.ts from config/schema.json, so the TypeScript types cannot drift
 * from the schema that ajv enforces. Types describe the config after validation: a property with
 * a schema default is required, because ajv fills it in.
 */
export type Schema = {
  title?: string;
  pattern?: string;
  examples?: unknown[];
  minimum?: number;
  maximum?: number;
  $ref?: string;
  type?: string;
  enum?: unknown[];
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  default?: unknown;
  definitions?: Record<string, Schema>;
};

export function emitConfigTypes(schema: Schema, schemaFile: string): string {
  const definitions = schema.definitions ?? {};
  const named = Object.keys(definitions).filter((name) => definitions[name].type === "object");
  const typeName = (definition: string) => definition.charAt(0).toUpperCase() + definition.slice(1);

  const render = (node: Schema, indent: string): string => {
    if (node.$ref) {
      const name = node.$ref.replace("#/definitions/", "");
      return named.includes(name) ? typeName(name) : render(definitions[name], indent);
    }
    if (node.enum) return node.enum.map((value) => JSON.stringify(value)).join(" | ");
    switch (node.type) {
      case "string":
        return "string";
      case "integer":
      case "number":
        return "number";
      case "boolean":
        return "boolean";
      case "array":
        return `${wrap(render(node.items ?? {}, indent))}[]`;
      case "object":
        if (node.properties) return renderObject(node, indent);
        if (typeof node.additionalProperties === "object") return `Record<string, ${render(node.additionalProperties, indent)}>`;
        return "Record<string, unknown>";
      default:
        return "unknown";
    }
  };
  const renderObject = (node: Schema, indent: string): string => {
    const inner = `${indent}  `;
    const members = Object.entries(node.properties ?? {}).map(([key, property]) => {
      const optional = node.required?.includes(key) || property.default !== undefined ? "" : "?";
      return `${docComment(property, inner)}${inner}${key}${optional}: ${render(property, inner)};\n`;
    });
    return `{\n${members.join("")}${indent}}`;
  };

  const declarations = [
    `${docComment(schema, "")}export interface Config ${renderObject(schema, "")}`,
    ...named.map((name) => `export interface ${typeName(name)} ${renderObject(definitions[name], "")}`),
  ];
  return `${generatedHeader("//", schemaFile, "npm run generate")}\n${declarations.join("\n\n")}\n`;
}

function wrap(type: string): string {
  return type.includes("|") ? `(${type})` : type;
}

function docComment(node: Schema, indent: string): string {
  if (!node.description) return "";
  return `${indent}/** ${node.description.replace(/\*\//g, "*\\/")} */\n`;
}
