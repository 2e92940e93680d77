/** Read one Prometheus sample from a /metrics text body. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0
  let found = false
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const have = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]))
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) { total += Number(m[4]); found = true }
  }
  return found ? total : 0
}

export async function scrape(httpUrl: string): Promise<string> {
  const r = await fetch(`${httpUrl}/metrics`)
  return r.text()
}
