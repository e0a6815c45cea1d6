/**
 * mistral.rs's Prometheus `/metrics`, read for `mrs ps` and the status line:
 * requests running and waiting, tokens per second, time to first token, KV
 * cache use, prefix-cache hits. Rates need two samples: the keeper keeps a
 * minute of them.
 */

import { compareVersions } from '../version.js'

/** One sample of the counters and gauges mrs reads. */
export interface MetricsSample {
  /** ms since the epoch. */
  at: number
  tokens: number
  running: number
  waiting: number
  kvUsed?: number
  kvTotal?: number
  ttftSum: number
  ttftCount: number
  itlSum: number
  itlCount: number
  prefixHits?: number
  prefixLookups?: number
}

/** What `mrs ps --json` and the status line show; each undefined when the server does not say. */
export interface MetricsSummary {
  running?: number
  waiting?: number
  /** Tokens processed per second over the last minute. */
  tokensPerSecond?: number
  /** Generation speed: 1 / the mean time between tokens of the last minute (else of the server's life). */
  decodeTokensPerSecond?: number
  /** Mean time to first token over the last minute (else of the server's life), in ms. */
  ttftMs?: number
  /** KV cache blocks in use, 0..1 (PagedAttention only). */
  kvCacheUse?: number
  /** Requests whose prompt began with a prefix the server had cached, of those it looked up, over its life. */
  prefixCacheHits?: number
  prefixCacheLookups?: number
}

/** Sums of each metric over its label sets: `name` → value (histograms as `_sum` / `_count`). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line)
    if (!m) continue
    const value = Number(m[3])
    if (!Number.isFinite(value)) continue
    out.set(m[1]!, (out.get(m[1]!) ?? 0) + value)
  }
  return out
}

export function sampleOf(text: string, at = Date.now()): MetricsSample | undefined {
  const m = parseMetrics(text)
  if (!m.has('mistralrs_sequences_running') && !m.has('mistralrs_tokens_processed_total')) return undefined
  return {
    at,
    tokens: m.get('mistralrs_tokens_processed_total') ?? 0,
    running: m.get('mistralrs_sequences_running') ?? 0,
    waiting: m.get('mistralrs_sequences_waiting') ?? 0,
    kvUsed: m.get('mistralrs_kv_cache_blocks_used'),
    kvTotal: m.get('mistralrs_kv_cache_blocks_total'),
    ttftSum: m.get('mistralrs_time_to_first_token_seconds_sum') ?? 0,
    ttftCount: m.get('mistralrs_time_to_first_token_seconds_count') ?? 0,
    itlSum: m.get('mistralrs_inter_token_latency_seconds_sum') ?? 0,
    itlCount: m.get('mistralrs_inter_token_latency_seconds_count') ?? 0,
    prefixHits: m.get('mistralrs_prefix_cache_hits_total'),
    prefixLookups: m.get('mistralrs_prefix_cache_lookups_total'),
  }
}

/** mistral.rs versions from which /metrics has the engine's metrics (sequences, tokens, TTFT, prefix cache; mistralrs-core engine/logger.rs). */
export const ENGINE_METRICS_SINCE = '0.9.2'

/**
 * Why a server's /metrics gave no sample, for `mrs ps`: 0.8.4–0.9.1 count only
 * HTTP requests there (`http_requests_total`, …), `--disable-metrics` answers
 * 503 `metrics disabled` (mistralrs-server-core/src/metrics.rs).
 */
export function metricsAbsence(status: number, text: string, version: string | undefined): string | undefined {
  if (status === 503 && /disabled/.test(text)) return 'the server runs with --disable-metrics'
  if (status === 404) return 'this mistral.rs has no /metrics'
  if (status !== 200) return undefined
  if (version && compareVersions(version, ENGINE_METRICS_SINCE) < 0) return `mistral.rs ${version} reports only HTTP counters on /metrics; its engine's (requests running, tokens, time to first token, prefix cache) arrived in ${ENGINE_METRICS_SINCE}`
  return "its /metrics has none of the engine's metrics"
}

/** The summary of samples (oldest first) spanning up to the last minute. */
export function summarize(samples: readonly MetricsSample[], windowMs = 60_000): MetricsSummary {
  const last = samples.at(-1)
  if (!last) return {}
  const first = samples.find((s) => last.at - s.at <= windowMs) ?? last
  const seconds = (last.at - first.at) / 1000
  const recent = (sum: keyof MetricsSample, count: keyof MetricsSample) => {
    const n = (last[count] as number) - (first[count] as number)
    return n > 0 ? ((last[sum] as number) - (first[sum] as number)) / n : (last[count] as number) > 0 ? (last[sum] as number) / (last[count] as number) : undefined
  }
  const itl = recent('itlSum', 'itlCount')
  const ttft = recent('ttftSum', 'ttftCount')
  return {
    running: last.running,
    waiting: last.waiting,
    tokensPerSecond: seconds > 0 ? Math.max(0, last.tokens - first.tokens) / seconds : undefined,
    decodeTokensPerSecond: itl ? 1 / itl : undefined,
    ttftMs: ttft !== undefined ? ttft * 1000 : undefined,
    kvCacheUse: last.kvTotal ? (last.kvUsed ?? 0) / last.kvTotal : undefined,
    prefixCacheHits: last.prefixHits,
    prefixCacheLookups: last.prefixLookups,
  }
}
