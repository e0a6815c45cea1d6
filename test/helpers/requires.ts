/**
 * Tests that need something a fresh machine may lack (needs.ts). Where it is
 * missing, the test is skipped and its title says why; `.ci/run` installs
 * everything and sets MRS_TEST_REQUIRE_ALL=1, which turns a missing
 * requirement into a failure, so CI never passes by skipping.
 */
import { it, type TestAPI } from 'vitest'
import { missing, type Requirement } from './needs.js'

const told = new Set<string>()

/** `it`, or a skip whose title says what is missing; under MRS_TEST_REQUIRE_ALL a missing requirement fails. */
export function requires(...needs: Requirement[]): TestAPI {
  const reasons = missing(needs)
  if (!reasons.length) return it
  // `it(name, …)` and `it.each(table)(name, …)` alike: a test file may use either form
  const withEach = (one: (name: string, ...rest: unknown[]) => void, each: (table: unknown[]) => (name: string, ...rest: unknown[]) => void) =>
    Object.assign(one, { each }) as unknown as TestAPI
  if (process.env.MRS_TEST_REQUIRE_ALL) {
    const fail = () => {
      throw new Error(`${reasons.join('; ')} — and MRS_TEST_REQUIRE_ALL is set, so this may not be skipped`)
    }
    return withEach(
      (name) => it(name, fail),
      (table) => (name) => it.each(table as unknown[][])(name, fail),
    )
  }
  for (const reason of reasons) {
    if (told.has(reason)) continue
    told.add(reason)
    process.stderr.write(`mrs tests: skipping the tests that ${reason.replace(/^needs/, 'need')}\n`)
  }
  const titled = (name: string) => `${name} [skipped: ${reasons.join('; ')}]`
  return withEach(
    (name, ...rest) => (it.skip as (...a: unknown[]) => void)(titled(name), ...rest),
    (table) =>
      (name, ...rest) =>
        (it.skip.each(table as unknown[][]) as (...a: unknown[]) => void)(titled(name), ...rest),
  )
}
