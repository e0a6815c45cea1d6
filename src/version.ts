/** Compares dotted versions (`0.9.2`, `2.1.197`): negative, zero or positive, like a sort comparator. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0)
  const pb = b.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0)
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0)
  return 0
}

/** The first `x.y.z` in a program's `--version` output. */
export const versionIn = (text: string): string | undefined => /(\d+\.\d+\.\d+)/.exec(text)?.[1]
