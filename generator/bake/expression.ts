/**
 * Evaluates the HCL expressions that docker-bake.hcl uses: string templates, variables, function
 * calls, lists, ==, !=, &&, ||, ! and the conditional operator. That is the subset the generator
 * emits; anything else is reported as unsupported rather than guessed at.
 */
export type Value = string | number | boolean | null | Value[];

export interface Scope {
  variables: Record<string, Value>;
  functions: Record<string, (args: Value[]) => Value>;
}

export class ExpressionError extends Error {}

type Token = { kind: "string" | "number" | "ident" | "op"; text: string };

/**
 * A template: literal text with `${…}` expressions. `sourceForm` is for string literals inside
 * expressions, still as written (`$${` stands for a literal `${`); hcl2-parser has already
 * unescaped top-level attribute values, where the generator never writes a literal `${`.
 */
export function evaluateTemplate(source: string, scope: Scope, sourceForm = false): Value {
  const parts = splitTemplate(source, sourceForm);
  if (parts.length === 1 && parts[0].kind === "expression") return evaluate(parts[0].text, scope);
  return parts.map((part) => (part.kind === "literal" ? part.text : toText(evaluate(part.text, scope)))).join("");
}

export function evaluate(source: string, scope: Scope): Value {
  const parser = new Parser(tokenize(source), scope, source);
  const value = parser.expression();
  parser.expectEnd();
  return value;
}

function splitTemplate(source: string, sourceForm: boolean): { kind: "literal" | "expression"; text: string }[] {
  const parts: { kind: "literal" | "expression"; text: string }[] = [];
  let literal = "";
  let i = 0;
  while (i < source.length) {
    if (sourceForm && (source.startsWith("$${", i) || source.startsWith("%%{", i))) {
      literal += `${source[i]}{`;
      i += 3;
    } else if (source.startsWith("${", i)) {
      const end = matchingBrace(source, i + 1);
      if (literal) parts.push({ kind: "literal", text: literal });
      literal = "";
      parts.push({ kind: "expression", text: source.slice(i + 2, end) });
      i = end + 1;
    } else {
      literal += source[i++];
    }
  }
  if (literal || !parts.length) parts.push({ kind: "literal", text: literal });
  return parts;
}

/** Index of the `}` closing the `{` at `open`, skipping string literals and nested braces. */
function matchingBrace(source: string, open: number): number {
  let depth = 0;
  for (let i = open; i < source.length; i++) {
    const ch = source[i];
    if (ch === '"') i = endOfString(source, i);
    else if (ch === "{") depth++;
    else if (ch === "}" && --depth === 0) return i;
  }
  throw new ExpressionError(`unterminated \${ in ${JSON.stringify(source)}`);
}

/** Index of the closing quote of the string literal opening at `start` (its templates included). */
function endOfString(source: string, start: number): number {
  for (let i = start + 1; i < source.length; i++) {
    if (source[i] === "\\") i++;
    else if (source.startsWith("$${", i) || source.startsWith("%%{", i)) i += 2;
    else if (source.startsWith("${", i)) i = matchingBrace(source, i + 1);
    else if (source[i] === '"') return i;
  }
  throw new ExpressionError(`unterminated string in ${JSON.stringify(source)}`);
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const ch = source[i];
    if (/\s/.test(ch)) i++;
    else if (ch === '"') {
      const end = endOfString(source, i);
      tokens.push({ kind: "string", text: source.slice(i + 1, end) });
      i = end + 1;
    } else if (/[0-9]/.test(ch)) {
      const text = /^[0-9]+(\.[0-9]+)?/.exec(source.slice(i))![0];
      tokens.push({ kind: "number", text });
      i += text.length;
    } else if (/[A-Za-z_]/.test(ch)) {
      const text = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(source.slice(i))![0];
      tokens.push({ kind: "ident", text });
      i += text.length;
    } else {
      const op = ["==", "!=", "&&", "||"].find((o) => source.startsWith(o, i)) ?? ch;
      if (!"==!=&&||?:,()[]!".includes(op)) throw new ExpressionError(`unsupported syntax ${JSON.stringify(op)} in ${JSON.stringify(source)}`);
      tokens.push({ kind: "op", text: op });
      i += op.length;
    }
  }
  return tokens;
}

class Parser {
  private position = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly scope: Scope,
    private readonly source: string,
  ) {}

  expression(): Value {
    const condition = this.binary(0);
    if (!this.accept("?")) return condition;
    const whenTrue = this.expression();
    this.expect(":");
    const whenFalse = this.expression();
    return condition === true ? whenTrue : condition === false ? whenFalse : this.error(`condition is not a bool: ${JSON.stringify(condition)}`);
  }

  expectEnd(): void {
    if (this.position < this.tokens.length) this.error(`unexpected ${this.tokens[this.position].text}`);
  }

  private static readonly levels = [["||"], ["&&"], ["==", "!="]];

  /** Binary operators by precedence level (both sides are evaluated, as HCL does). */
  private binary(level: number): Value {
    if (level === Parser.levels.length) return this.unary();
    let left = this.binary(level + 1);
    for (;;) {
      const op = Parser.levels[level].find((candidate) => this.peek(candidate));
      if (!op) return left;
      this.position++;
      const right = this.binary(level + 1);
      if (op === "==") left = JSON.stringify(left) === JSON.stringify(right);
      else if (op === "!=") left = JSON.stringify(left) !== JSON.stringify(right);
      else if (typeof left !== "boolean" || typeof right !== "boolean") this.error(`${op} needs bools`);
      else left = op === "&&" ? left && right : left || right;
    }
  }

  private unary(): Value {
    if (this.accept("!")) {
      const value = this.unary();
      return typeof value === "boolean" ? !value : this.error("! needs a bool");
    }
    return this.primary();
  }

  private primary(): Value {
    const token = this.tokens[this.position++];
    if (!token) return this.error("unexpected end");
    if (token.kind === "string") return evaluateTemplate(unescapeString(token.text), this.scope, true);
    if (token.kind === "number") return Number(token.text);
    if (token.kind === "ident") {
      if (token.text === "true" || token.text === "false") return token.text === "true";
      if (token.text === "null") return null;
      if (this.accept("(")) return this.call(token.text);
      if (!(token.text in this.scope.variables)) return this.error(`unknown variable ${token.text}`);
      return this.scope.variables[token.text];
    }
    if (token.text === "(") {
      const value = this.expression();
      this.expect(")");
      return value;
    }
    if (token.text === "[") return this.list("]");
    return this.error(`unexpected ${token.text}`);
  }

  private call(name: string): Value {
    const fn = this.scope.functions[name];
    if (!fn) this.error(`unknown function ${name}()`);
    return fn(this.list(")"));
  }

  private list(close: string): Value[] {
    const items: Value[] = [];
    while (!this.accept(close)) {
      items.push(this.expression());
      if (!this.accept(",")) {
        this.expect(close);
        break;
      }
    }
    return items;
  }

  private peek(text: string): boolean {
    const token = this.tokens[this.position];
    return token?.kind === "op" && token.text === text;
  }

  private accept(text: string): boolean {
    if (!this.peek(text)) return false;
    this.position++;
    return true;
  }

  private expect(text: string): void {
    if (!this.accept(text)) this.error(`expected ${text}`);
  }

  private error(message: string): never {
    throw new ExpressionError(`${message} in ${JSON.stringify(this.source)}`);
  }
}

/** HCL string escapes as written in source: \" \\ \n \r \t \uXXXX; $${ and %%{ are kept for the template step. */
function unescapeString(text: string): string {
  return text.replace(/\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)/g, (_, sequence: string) => {
    if (sequence.length > 1) return String.fromCodePoint(parseInt(sequence.slice(1), 16));
    return ({ n: "\n", r: "\r", t: "\t", '"': '"', "\\": "\\" } as Record<string, string>)[sequence] ?? sequence;
  });
}

export function toText(value: Value): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  throw new ExpressionError(`cannot use ${JSON.stringify(value)} as text`);
}

/** The bake standard-library functions the generated file uses. */
export const builtinFunctions: Record<string, (args: Value[]) => Value> = {
  concat: (args) => args.flatMap((list) => (Array.isArray(list) ? list : [list])),
  compact: ([list]) => (Array.isArray(list) ? list.filter((item) => item !== "" && item !== null) : []),
  equal: ([a, b]) => JSON.stringify(a) === JSON.stringify(b),
  notequal: ([a, b]) => JSON.stringify(a) !== JSON.stringify(b),
  // A literal substring only: bake's replace() also takes /regex/, which the generated file never uses.
  replace: ([text, search, replacement]) => toText(text).replaceAll(toText(search), toText(replacement)),
  join: ([separator, list]) => (Array.isArray(list) ? list.map(toText).join(toText(separator)) : toText(list)),
};
