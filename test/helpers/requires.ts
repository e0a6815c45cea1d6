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
  if (process.env.MRS_TEST_REQUIRE_ALL) {
    return ((name: string) =>
      it(name, () => {
        throw new Error(`${reasons.join('; ')} — and MRS_TEST_REQUIRE_ALL is set, so this may not be skipped`)
      })) as unknown as TestAPI
  }
  for (const reason of reasons) {
    if (told.has(reason)) continue
    told.add(reason)
    process.stderr.write(`mrs tests: skipping the tests that ${reason.replace(/^needs/, 'need')}\n`)
  }
  return ((name: string, ...rest: unknown[]) => (it.skip as (...a: unknown[]) => void)(`${name} [skipped: ${reasons.join('; ')}]`, ...rest)) as unknown as TestAPI
}
