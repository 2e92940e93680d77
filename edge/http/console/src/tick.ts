/** Re-render every `ms` (timers on the page); the interval goes with the component. */
import { useEffect, useState } from 'preact/hooks'

export function useTick(ms: number): void {
  const [, set] = useState(0)
  useEffect(() => {
    const t = setInterval(() => set((n) => (n + 1) % 1_000_000), ms)
    return () => clearInterval(t)
  }, [ms])
}
