/**
 * Ranking the candidate offers of one decision: features for every candidate into one reused buffer, one
 * batched run of the active model. Without a model, or if scoring fails, the caller falls back to the
 * campaigns' rule priority and the reason is counted.
 */
import { buildFeatureBatch, FEATURE_DIM, type ContextFeatures, type MemberFeatures, type OfferFeatures, type SegmentRule } from './features.js'
import type { ModelRegistry } from './registry.js'

export type FallbackReason = 'no-model' | 'model-error'

export interface Ranking { scores: Float32Array | null; modelVersion: string | null; fallback: FallbackReason | null; error?: string }

export class Ranker {
  /** feature buffers not in use: a decision holds its buffer until onnxruntime has read it */
  private readonly free: Float32Array[] = []

  constructor(private readonly registry: ModelRegistry, private readonly onFallback: (reason: FallbackReason) => void = () => {}, private readonly rules?: readonly SegmentRule[]) {}

  async rank(member: MemberFeatures, offers: readonly OfferFeatures[], context: ContextFeatures): Promise<Ranking> {
    const model = this.registry.active
    if (!model) {
      this.onFallback('no-model')
      return { scores: null, modelVersion: null, fallback: 'no-model' }
    }
    const n = offers.length
    // each decision owns its buffer until the run is over: onnxruntime reads it a tick later, while the event
    // loop may already be building the next decision
    let buf = this.free.pop()
    if (!buf || buf.length < n * FEATURE_DIM) buf = new Float32Array(Math.max(n, 64) * FEATURE_DIM)
    const features = buf.subarray(0, n * FEATURE_DIM)
    buildFeatureBatch(member, offers, context, features, this.rules)
    try {
      const scores = await model.scorer.score(features, n)
      return { scores, modelVersion: model.version, fallback: null }
    } catch (err) {
      this.onFallback('model-error')
      return { scores: null, modelVersion: model.version, fallback: 'model-error', error: (err as Error).message }
    } finally {
      if (this.free.length < 8) this.free.push(buf)
    }
  }
}
