import { commentText } from "../quote.ts";

/**
 * The header every generated file starts with: that it is generated, from what, and how to
 * regenerate it. No timestamps or versions, so the same config always gives the same bytes.
 * Markdown gets the two lines inside an HTML comment, which renderers hide.
 */
export function generatedHeader(comment: "#" | "//" | "<!--", source: string, regenerate: string): string {
  const lines = [`Generated from ${commentText(source)} by generator/ — do not edit by hand.`, `Change the config and run \`${regenerate}\`; \`npm run check\` fails while this file is stale.`];
  return comment === "<!--" ? `<!-- ${lines.join("\n     ")} -->\n` : `${lines.map((line) => `${comment} ${line}`).join("\n")}\n`;
}
