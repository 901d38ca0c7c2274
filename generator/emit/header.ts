import { commentText } from "../quote.ts";

/**
 * The header every generated file starts with: that it is generated, from what, and how to
 * regenerate it. No timestamps or versions, so the same config always gives the same bytes.
 */
export function generatedHeader(comment: "#" | "//", source: string, regenerate: string): string {
  return [
    `${comment} Generated from ${commentText(source)} by generator/ — do not edit by hand.`,
    `${comment} Change the config and run \`${regenerate}\`; \`npm run check\` fails while this file is stale.`,
  ].join("\n") + "\n";
}
