// SPDX-License-Identifier: Apache-2.0
//
// The list `filter` language, as compute.proto documents it on every List request's `filter` field:
//  * comparisons `field OP value` with OP one of `=`, `!=`, `>`, `<`, `<=`, `>=`, `:` (`:` = substring for strings,
//    `field:*` = the field is set); nested fields by dots (`labels.env = prod`, `scheduling.automaticRestart = false`);
//  * several comparisons in parentheses, AND by default, explicit `AND` / `OR`;
//  * regular expressions with `eq` / `ne`: `name eq 'literal'` (RE2, must match the entire field), either as one
//    un-parenthesised expression or several parenthesised ones (`(name eq a.*) (zone ne .*b)`).
// `=` also accepts a trailing `*` wildcard, as gcloud's `--filter` rewrites to it.

import { ApiError } from './errors.ts';

type Pred = (item: Record<string, unknown>) => boolean;

/** Compiles a filter expression into a predicate; throws the API's 400 for an expression it cannot parse. */
export function compileFilter(expr: string): Pred {
  const src = expr.trim();
  if (src === '') return () => true;
  try {
    const p = new Parser(src);
    const pred = p.parseOr();
    p.skipWs();
    if (!p.done()) throw new Error('trailing input');
    return pred;
  } catch {
    // [U] exact wording of the real error.
    throw ApiError.invalid('filter', expr, 'Invalid list filter expression.');
  }
}

function fieldValues(item: unknown, path: string[]): unknown[] {
  if (path.length === 0) return [item];
  if (Array.isArray(item)) return item.flatMap((e) => fieldValues(e, path));
  if (typeof item !== 'object' || item === null) return [];
  const [head, ...rest] = path;
  const v = (item as Record<string, unknown>)[head!];
  if (v === undefined) return [];
  return fieldValues(v, rest);
}

function asString(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function compare(op: string, actual: unknown, literal: string): boolean {
  const a = asString(actual);
  switch (op) {
    case 'eq':
      return new RegExp(`^(?:${literal})$`).test(a);
    case 'ne':
      return !new RegExp(`^(?:${literal})$`).test(a);
    case '=':
      if (literal.endsWith('*')) return a.startsWith(literal.slice(0, -1));
      return a === literal;
    case '!=':
      return a !== literal;
    case ':':
      return literal === '*' ? true : a.includes(literal);
    default: {
      const an = Number(a);
      const ln = Number(literal);
      const [x, y] = !Number.isNaN(an) && !Number.isNaN(ln) ? [an, ln] : [a, literal];
      if (op === '>') return x > y;
      if (op === '<') return x < y;
      if (op === '>=') return x >= y;
      return x <= y;
    }
  }
}

class Parser {
  private i = 0;
  private readonly s: string;

  constructor(s: string) {
    this.s = s;
  }

  done(): boolean {
    return this.i >= this.s.length;
  }

  skipWs(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i]!)) this.i++;
  }

  private peekWord(): string {
    this.skipWs();
    const m = /^[A-Za-z]+/.exec(this.s.slice(this.i));
    return m?.[0] ?? '';
  }

  parseOr(): Pred {
    let left = this.parseAnd();
    for (;;) {
      if (this.peekWord() !== 'OR') return left;
      this.i += 2;
      const right = this.parseAnd();
      const l = left;
      left = (x) => l(x) || right(x);
    }
  }

  private parseAnd(): Pred {
    let left = this.parseTerm();
    for (;;) {
      this.skipWs();
      if (this.done() || this.s[this.i] === ')') return left;
      const w = this.peekWord();
      if (w === 'OR') return left;
      if (w === 'AND') this.i += 3;
      const right = this.parseTerm();
      const l = left;
      left = (x) => l(x) && right(x);
    }
  }

  private parseTerm(): Pred {
    this.skipWs();
    if (this.peekWord() === 'NOT') {
      this.i += 3;
      const inner = this.parseTerm();
      return (x) => !inner(x);
    }
    if (this.s[this.i] === '(') {
      this.i++;
      const inner = this.parseOr();
      this.skipWs();
      if (this.s[this.i] !== ')') throw new Error('missing )');
      this.i++;
      return inner;
    }
    return this.parseComparison();
  }

  private parseComparison(): Pred {
    this.skipWs();
    // Nested fields by dots; a segment after a dot may hold `-`, as label keys do (`labels.goog-k8s-cluster-name`):
    // "You can use filtering on nested fields to filter based on resource labels" (compute.proto, List*Request.filter),
    // and label keys are lowercase letters, digits, `_` and `-`
    // (https://cloud.google.com/resource-manager/docs/labels-overview). [U] the exact grammar is undocumented.
    const fm = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_-]+)*/.exec(this.s.slice(this.i));
    if (fm === null) throw new Error('field expected');
    this.i += fm[0].length;
    this.skipWs();
    const om = /^(eq\b|ne\b|!=|>=|<=|=|>|<|:)/.exec(this.s.slice(this.i));
    if (om === null) throw new Error('operator expected');
    const op = om[1]!;
    this.i += op.length;
    this.skipWs();
    const literal = this.parseLiteral(op === 'eq' || op === 'ne');
    const path = fm[0].split('.');
    return (item) => {
      const vals = fieldValues(item, path);
      if (op === ':' && literal === '*') return vals.length > 0;
      if (vals.length === 0) return op === 'ne' || op === '!=';
      return op === 'ne' || op === '!=' ? vals.every((v) => compare(op, v, literal)) : vals.some((v) => compare(op, v, literal));
    };
  }

  private parseLiteral(regex: boolean): string {
    const q = this.s[this.i];
    if (q === '"' || q === "'") {
      let out = '';
      this.i++;
      while (this.i < this.s.length && this.s[this.i] !== q) {
        if (this.s[this.i] === '\\' && this.i + 1 < this.s.length && !regex) this.i++;
        out += this.s[this.i];
        this.i++;
      }
      if (this.s[this.i] !== q) throw new Error('unterminated string');
      this.i++;
      return out;
    }
    // Unquoted: up to whitespace or ')'; a regex literal un-parenthesised may contain spaces (rest of input).
    const m = regex ? /^[^)]*?(?=\s*\)|\s*$|\s+(AND|OR)\s)/.exec(this.s.slice(this.i)) : /^[^\s)]+/.exec(this.s.slice(this.i));
    if (m === null || m[0] === '') throw new Error('literal expected');
    this.i += m[0].length;
    return m[0].trim();
  }
}
