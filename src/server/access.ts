/**
 * A model mistral.rs could not get — not on Hugging Face, private or gated,
 * no network, no such local directory — told apart from every other load
 * failure (a quantization that failed, an out-of-memory), so it is said once,
 * naming the model, and nothing is retried: a second start would fail the
 * same way. The texts are mistral.rs 0.9.2's: the `--quant auto` tune step
 * prints hf-hub's raw error (mistralrs-cli/src/commands/quant.rs:
 * "`--quant auto` failed during tune analysis: request error: URL: status
 * code N"), the load builds its own (mistralrs-core/src/pipeline/hf.rs
 * `hf_error`: "Could not find/access `ID` (revision `main`) on Hugging Face
 * (HTTP N)…").
 */

/** One line for people, or undefined when the failure is not about getting the model. */
export function modelAccessFailure(tail: readonly string[], models: readonly string[]): string | undefined {
  const text = tail.join('\n')
  const named = (line: string) => models.find((m) => line.includes(`\`${m}\``) || line.includes(`huggingface.co/${m}/`) || line.includes(`/models/${m}/`)) ?? models[0]!
  for (const line of [...tail].reverse()) {
    if (!/^Error: /.test(line) && !/HF_HUB_OFFLINE` is set/.test(line)) continue
    const id = named(line)
    const status = /\(HTTP (\d{3})\)/.exec(line)?.[1] ?? (/failed during tune analysis: request error: \S+: status code (\d{3})/.exec(line)?.[1])
    if (status === '404') return `${id} was not found on Hugging Face (HTTP 404), and there is no local directory by that name: check the id (mrs models lists what is downloaded)`
    if (status === '401')
      return `Hugging Face refused ${id} (HTTP 401): there is no such model, or it is private or gated and mistral.rs has no token for it; check the id, or log in (mistralrs login, or set HF_TOKEN)`
    if (status === '403') return `Hugging Face refused ${id} (HTTP 403): it is gated and your token has no access to it; ask for access on https://huggingface.co/${id}`
    if (/looks like a local path, but that path does not exist/.test(line)) return `${id} looks like a local directory, but there is no such directory`
    if (/HF_HUB_OFFLINE` is set and no local Hugging Face cache was found/.test(line) || (/missing `config\.json`/.test(line) && /HF_HUB_OFFLINE/.test(text)))
      return `${id} is not downloaded, and HF_HUB_OFFLINE is set: unset it so mistral.rs can download ${id}`
    const transport = /(Dns Failed|Connection Failed|Network Error|Too Many Redirects|Io Error)[^\n]*/.exec(line)
    if (transport && /Hugging Face|huggingface\.co|tune analysis: request error/.test(line))
      return `mistral.rs cannot reach Hugging Face to get ${id} (${transport[0].slice(0, 160)}); if ${id} is downloaded, set HF_HUB_OFFLINE=1 so it loads from the cache`
  }
  return undefined
}
