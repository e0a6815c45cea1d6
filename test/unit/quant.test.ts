// The quantization mrs chooses where the server starts (server/quant.ts), and
// the model-access failures told apart from every other load failure
// (server/access.ts). mistral.rs's own --quant auto quantizes a model that
// fits (Balanced picks q6k whenever q6k fits) and counts RAM as room; these
// protect the choice that replaces it, and the one-line errors.
import { describe, expect, it } from 'vitest'
import { chooseQuant } from '../../src/server/quant.js'
import { modelAccessFailure } from '../../src/server/access.js'
import { describeFit, fitOf } from '../../src/models/fit.js'
import type { Accelerator } from '../../src/models/accelerator.js'

const GiB = 2 ** 30
const cuda = (gib: number): Accelerator => ({ kind: 'cuda', name: 'NVIDIA RTX', totalBytes: gib * GiB })
const metal = (gib: number): Accelerator => ({ kind: 'metal', name: 'Apple silicon (unified memory)', totalBytes: gib * GiB })
/** BF16 weights of a model of `b` billion parameters. */
const bf16 = (b: number) => ({ params: b, downloadGB: 2 * b })

describe('the quantization chosen where the server starts', () => {
  it('full precision for a model that fits (where --quant auto would have loaded q6k)', () => {
    expect(chooseQuant({ model: bf16(8), accelerator: cuda(24), version: '0.9.2' })).toMatchObject({ args: [], label: 'full precision' })
  })
  it('the largest Balanced level that fits the GPU alone, as --quant (so a -UQFF sibling is still taken)', () => {
    expect(chooseQuant({ model: bf16(14), accelerator: cuda(24), version: '0.9.2' }).args).toEqual(['--quant', 'q6k'])
    expect(chooseQuant({ model: bf16(30.5), accelerator: cuda(24), version: '0.9.2' }).args).toEqual(['--quant', 'q4k'])
    expect(chooseQuant({ model: bf16(30.5), accelerator: cuda(48), version: '0.9.2' }).args).toEqual(['--quant', 'q6k'])
    // Metal's Balanced levels are AFQ6, AFQ4, AFQ3
    expect(chooseQuant({ model: bf16(30.5), accelerator: metal(24), version: '0.9.2' }).args).toEqual(['--quant', 'afq4'])
  })
  it("--quant auto where no level fits the GPU alone (mistral.rs's analysis may offload to the CPU)", () => {
    const choice = chooseQuant({ model: bf16(80), accelerator: cuda(24), version: '0.9.2' })
    expect(choice.args).toEqual(['--quant', 'auto'])
    expect(choice.why).toMatch(/not even as q3k/)
  })
  it('--isq before 0.8.2, which has no --quant', () => {
    expect(chooseQuant({ model: bf16(30.5), accelerator: cuda(24), version: '0.8.1' }).args).toEqual(['--isq', 'q4k'])
    expect(chooseQuant({ model: bf16(80), accelerator: cuda(24), version: '0.8.1' }).args).toEqual(['--isq', 'q3k'])
  })
  it('nothing added for a model published quantized, or one whose size or memory is not known, and says why', () => {
    expect(chooseQuant({ model: { params: 117, downloadGB: 65, prequantized: true }, accelerator: cuda(24) })).toMatchObject({ args: [], label: 'as published' })
    expect(chooseQuant({ accelerator: cuda(24) })).toMatchObject({ args: [], label: 'full precision' })
    expect(chooseQuant({ accelerator: cuda(24) }).why).toMatch(/not known here before it is downloaded/)
    expect(chooseQuant({ model: bf16(8), accelerator: { kind: 'cuda', name: 'x', totalBytes: 0, unknown: true } }).args).toEqual([])
  })
  it('the picker and mrs models say the same levels', () => {
    expect(fitOf(bf16(30.5), cuda(24))).toBe('q4k')
    expect(describeFit('q4k', cuda(24))).toBe('fits 24 GB GPU as q4k')
    expect(describeFit(fitOf(bf16(8), cuda(24)), cuda(24))).toBe('fits 24 GB GPU')
    expect(describeFit(fitOf(bf16(80), cuda(24)), cuda(24))).toBe('too big for 24 GB GPU')
  })
})

describe('a model mistral.rs cannot get', () => {
  const M = 'Qwen/Nope'
  it('from the load (mistralrs-core pipeline/hf.rs hf_error): 404, 401, 403', () => {
    expect(modelAccessFailure([`Error: Could not find \`${M}\` (revision \`main\`) on Hugging Face (HTTP 404). Check the model ID, revision, and access token. No local directory exists at \`${M}\`, so mistral.rs treated it as a Hugging Face model ID. Details: request error: https://huggingface.co/api/models/${M}/revision/main: status code 404`], [M])).toBe(
      `${M} was not found on Hugging Face (HTTP 404), and there is no local directory by that name: check the id (mrs models lists what is downloaded)`,
    )
    expect(modelAccessFailure([`Error: Could not access \`${M}\` (revision \`main\`) on Hugging Face (HTTP 401). Run \`mistralrs login\` or set \`HF_TOKEN\` if this is a private or gated repo.`], [M])).toMatch(/^Hugging Face refused Qwen\/Nope \(HTTP 401\)/)
    expect(modelAccessFailure([`Error: Could not access \`config.json\` for \`${M}\` (revision \`main\`) on Hugging Face (HTTP 403).`], [M])).toMatch(/^Hugging Face refused Qwen\/Nope \(HTTP 403\): it is gated/)
  })
  it("from --quant auto's tune step, which prints hf-hub's raw error (mistralrs-cli commands/quant.rs)", () => {
    expect(modelAccessFailure([`Error: \`--quant auto\` failed during tune analysis: request error: https://huggingface.co/${M}/resolve/main/config.json: status code 404`], ['Qwen/Other', M])).toMatch(/^Qwen\/Nope was not found on Hugging Face \(HTTP 404\)/)
  })
  it('offline, a local path that is not there, no network', () => {
    expect(modelAccessFailure(['WARN mistralrs_core::pipeline::hf: `HF_HUB_OFFLINE` is set and no local Hugging Face cache was found for `Qwen/Nope` (revision `main`)', 'Error: Auto loader could not determine model type: missing `config.json` and no diffusion/speech markers found.'], [M])).toMatch(/is not downloaded, and HF_HUB_OFFLINE is set/)
    expect(modelAccessFailure(['Error: Failed to access `/data/m` (revision `main`) on Hugging Face. `/data/m` looks like a local path, but that path does not exist. Details: x'], ['/data/m'])).toBe('/data/m looks like a local directory, but there is no such directory')
    expect(modelAccessFailure([`Error: \`--quant auto\` failed during tune analysis: request error: https://huggingface.co/${M}/resolve/main/config.json: Dns Failed: resolve dns name 'huggingface.co:443': failed`], [M])).toMatch(/^mistral\.rs cannot reach Hugging Face to get Qwen\/Nope \(Dns Failed/)
  })
  it('is not a quantization failure, an out-of-memory or a crash', () => {
    expect(modelAccessFailure(['Error: `--quant auto` failed during tune analysis: No suitable quantization level fits on the available devices. Try a smaller model or enable CPU offload.'], [M])).toBeUndefined()
    expect(modelAccessFailure(["thread 'main' panicked at x.rs:1:1:", 'CUDA error: out of memory'], [M])).toBeUndefined()
  })
})
