/**
 * Compiled validators for the contract schemas and a compact, human-readable error form.
 * One place compiles every schema once (TypeBox's JIT compiler; about 1 us a sighting on this machine).
 */
import type { TSchema } from 'typebox'
import { Compile, type Validator } from 'typebox/compile'

export interface Problem {
  /** JSON pointer into the value, '' for the root */
  path: string
  /** JSON Schema keyword that failed: type, minimum, required, pattern, ... */
  keyword: string
  message: string
}

export interface Checker<T> {
  check(value: unknown): value is T
  /** First few problems, most specific first (anyOf summaries dropped). */
  problems(value: unknown, max?: number): Problem[]
  readonly schema: TSchema
}

export function compile<T>(schema: TSchema): Checker<T> {
  const v: Validator = Compile(schema)
  return {
    schema,
    check: (value: unknown): value is T => v.Check(value),
    problems(value: unknown, max = 3): Problem[] {
      const errs = v.Errors(value)
      const specific = errs.filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf')
      const list = (specific.length > 0 ? specific : errs).slice(0, max)
      return list.map((e) => ({ path: e.instancePath, keyword: e.keyword, message: e.message }))
    },
  }
}

/** Range keywords: a value of the right type outside its allowed range. */
export const RANGE_KEYWORDS = new Set(['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'])

export function describeProblems(problems: Problem[]): string {
  return problems.map((p) => `${p.path || '/'} ${p.message}`).join('; ')
}
