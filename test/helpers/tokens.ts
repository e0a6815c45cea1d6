/**
 * How many tokens a request body is, estimated the way a tokenizer meets
 * JSON, code and English: about 3.5 characters a token. Used to check a
 * client's `minContext` (below it mrs warns that the client cannot work)
 * against the first request the pinned real client actually sends.
 */
import { expect } from 'vitest'
import { clientByName } from '../../src/clients/registry.js'

export const estimateTokens = (body: unknown) => Math.ceil(JSON.stringify(body).length / 3.5)

/** Room for a short answer on top of the prompt. */
const ANSWER = 2048

export function expectMinContextCovers(client: string, bodies: unknown[]): void {
  const largest = Math.max(...bodies.map(estimateTokens))
  const { minContext } = clientByName(client)!
  expect(largest + ANSWER, `${client}'s first request is ~${largest} tokens: raise its minContext (${minContext})`).toBeLessThanOrEqual(minContext)
}
