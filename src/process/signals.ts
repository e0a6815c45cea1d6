/**
 * One place that listens for SIGINT, SIGTERM and SIGHUP, and hands each to
 * whatever the session is doing now (aborting startup, forwarding to the
 * client, ignoring). The source is a parameter so tests can emit signals on
 * a plain EventEmitter.
 */
import type { ForwardedSignal } from '../errors.js'

export type SignalHandler = (signal: ForwardedSignal) => void

interface SignalSource {
  on(event: ForwardedSignal, listener: () => void): unknown
  off(event: ForwardedSignal, listener: () => void): unknown
}

export const FORWARDED: readonly ForwardedSignal[] = ['SIGINT', 'SIGTERM', 'SIGHUP']

export class SignalHub {
  private handler: SignalHandler = () => {}
  private readonly listeners = new Map<ForwardedSignal, () => void>()
  /** The first signal received, if any. */
  received?: ForwardedSignal

  constructor(private readonly source: SignalSource = process) {
    for (const signal of FORWARDED) {
      const listener = () => {
        this.received ??= signal
        this.handler(signal)
      }
      this.listeners.set(signal, listener)
      source.on(signal, listener)
    }
  }

  set(handler: SignalHandler): void {
    this.handler = handler
  }

  dispose(): void {
    for (const [signal, listener] of this.listeners) this.source.off(signal, listener)
    this.listeners.clear()
  }
}
