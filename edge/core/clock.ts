/**
 * Time as a dependency. Domain code never reads the wall clock: it is handed a Clock.
 * ManualClock drives tests and simulations (a simulated store day runs in seconds).
 */
export interface Clock {
  /** epoch milliseconds */
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

export class ManualClock implements Clock {
  constructor(private t: number = Date.UTC(2026, 0, 5, 9, 0, 0)) {}
  now(): number { return this.t }
  set(t: number): void { this.t = t }
  advance(ms: number): number { this.t += ms; return this.t }
}
