/**
 * A typed in-process event bus, generic over an event map (the shape Zigbee2MQTT's eventBus has, without one
 * emit/on pair per event). Listeners run synchronously in registration order; a throwing listener is
 * reported to onError and never stops the others.
 */
export type Listener<T> = (payload: T) => void

export class EventBus<Events extends { [K in keyof Events]: unknown }> {
  private readonly listeners = new Map<keyof Events, Listener<never>[]>()
  constructor(private readonly onError: (event: string, err: unknown) => void = () => {}) {}

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const list = this.listeners.get(event) ?? []
    list.push(listener as Listener<never>)
    this.listeners.set(event, list)
    return () => this.off(event, listener)
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    const list = this.listeners.get(event)
    if (!list) return
    const i = list.indexOf(listener as Listener<never>)
    if (i >= 0) list.splice(i, 1)
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const list = this.listeners.get(event)
    if (!list) return
    for (const l of list) {
      try {
        (l as Listener<Events[K]>)(payload)
      } catch (err) {
        this.onError(String(event), err)
      }
    }
  }

  listenerCount(event: keyof Events): number {
    return this.listeners.get(event)?.length ?? 0
  }
}
