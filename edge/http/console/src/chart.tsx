/** uPlot in a Preact component: created once, data swapped in place, resized with its box, destroyed on unmount. */
import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'

export function Chart({ options, data, height = 220, label }: { options: Omit<uPlot.Options, 'width' | 'height'>; data: uPlot.AlignedData; height?: number; label: string }) {
  const box = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)
  useEffect(() => {
    const el = box.current!
    const u = new uPlot({ ...options, width: Math.max(200, el.clientWidth), height }, data, el)
    plot.current = u
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height }))
    ro.observe(el)
    return () => { ro.disconnect(); u.destroy(); plot.current = null }
    // options are fixed for the life of a chart (remount with a key to change them)
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [])
  useEffect(() => { plot.current?.setData(data) }, [data])
  return <div class="chart" ref={box} role="img" aria-label={label} />
}
