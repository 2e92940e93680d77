/**
 * Ranking the candidate offers of one decision: features for every candidate into one reused buffer, one
 * batched run of the active model. Without a model, or if scoring fails, the caller falls back to the
 * campaigns' rule priority and the reason is counted.
 */
import { buildFeatures, FEATURE_DIM, type ContextFeatures, type MemberFeatures, type OfferFeatures, type SegmentRule } from './features.js'
import type { ModelRegistry } from './registry.js'

export type FallbackReason = 'no-model' | 'model-error'

export interface Ranking { scores: Float32Array | null; modelVersion: string | null; fallback: FallbackReason | null; error?: string }

export class Ranker {
  constructor(private readonly registry: ModelRegistry, private readonly onFallback: (reason: FallbackReason) => void = () => {}, private readonly rules?: readonly SegmentRule[]) {}

  async rank(member: MemberFeatures, offers: readonly OfferFeatures[], context: ContextFeatures): Promise<Ranking> {
    const model = this.registry.active
    if (!model) {
      this.onFallback('no-model')
      return { scores: null, modelVersion: null, fallback: 'no-model' }
    }
    const n = offers.length
    // each decision owns its buffer: onnxruntime reads it while the event loop moves on to the next decision
    const features = new Float32Array(n * FEATURE_DIM)
    for (let i = 0; i < n; i++) buildFeatures({ member, offer: offers[i]!, context }, features, i * FEATURE_DIM, this.rules)
    try {
      const scores = await model.scorer.score(features, n)
      return { scores: Float32Array.from(scores), modelVersion: model.version, fallback: null }
    } catch (err) {
      this.onFallback('model-error')
      return { scores: null, modelVersion: model.version, fallback: 'model-error', error: (err as Error).message }
    }
  }
}
