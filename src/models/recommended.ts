/**
 * A short list of coding models that work as agents on mistral.rs, for the
 * picker and `mrs models`. Data only: each entry says where its figures come
 * from. `params` (billions) and `downloadGB` (the repository's weights as
 * published) decide whether a model fits; `context` is its
 * max_position_embeddings.
 */
export interface Recommended {
  id: string
  params: number
  /** Billions of parameters active per token (mixture of experts), when fewer than all. */
  active?: number
  downloadGB: number
  /** Published already quantized (MXFP4): it fits as published or not at all, as --quant auto cannot shrink it. */
  prequantized?: boolean
  context: number
  why: string
  source: string
}

export const RECOMMENDED: readonly Recommended[] = [
  {
    id: 'Qwen/Qwen3-Coder-Next',
    params: 80,
    active: 3,
    downloadGB: 160,
    context: 262_144,
    why: 'the coding model mistral.rs recommends for agents',
    source: "mistral.rs docs (its page on coding agents); Hugging Face model card: 80B total, 3B active, BF16, 256K context",
  },
  {
    id: 'Qwen/Qwen3-Coder-30B-A3B-Instruct',
    params: 30.5,
    active: 3.3,
    downloadGB: 61,
    context: 262_144,
    why: 'a fast MoE coder for a single 24-48 GB GPU with --quant auto',
    source: 'Hugging Face model card: 30.5B total, 3.3B active, BF16 safetensors, 262,144 native context',
  },
  {
    id: 'openai/gpt-oss-20b',
    params: 21,
    active: 3.6,
    downloadGB: 13.8,
    prequantized: true,
    context: 131_072,
    why: 'MXFP4 weights, already ~4 bits: loads as published, without a quantization flag',
    source: 'Hugging Face model card: 21B total, 3.6B active, MXFP4 MoE weights (~13.8 GB), 128K context; mistral.rs docs: loads without a quantization flag',
  },
  {
    id: 'openai/gpt-oss-120b',
    params: 117,
    active: 5.1,
    downloadGB: 65,
    prequantized: true,
    context: 131_072,
    why: 'MXFP4 weights, already ~4 bits: one 80 GB GPU holds it as published',
    source: 'Hugging Face model card: 117B total, 5.1B active, MXFP4 MoE weights (~65 GB), 128K context',
  },
  {
    id: 'mistralai/Devstral-Small-2507',
    params: 23.6,
    downloadGB: 47,
    context: 131_072,
    why: 'a dense agentic coder from Mistral',
    source: 'Hugging Face model card (Devstral Small 1.1): 24B, BF16, 128K context',
  },
  {
    id: 'Qwen/Qwen3-8B',
    params: 8.2,
    downloadGB: 16.4,
    context: 40_960,
    why: 'small enough for an 8-12 GB GPU or a CPU, with tool calling',
    source: 'Hugging Face model card: 8.2B, BF16, 32,768 native context (max_position_embeddings 40,960)',
  },
  {
    id: 'Qwen/Qwen3-4B',
    params: 4,
    downloadGB: 8,
    context: 40_960,
    why: 'the smallest that still calls tools: for trying things out',
    source: 'Hugging Face model card: 4.0B, BF16, 32,768 native context (max_position_embeddings 40,960)',
  },
]
