/**
 * Scoring with onnxruntime-node: one long-lived InferenceSession per model (one intra-op thread, no
 * spinning, warmed up), every candidate of a decision scored in one batched run.
 */
import * as ort from 'onnxruntime-node'
import { FEATURE_DIM } from './features.js'

export class ModelError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ModelError'
  }
}

export const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  // a spinning thread pool burns a core while idle and made p99 several times worse on a 2-core gateway
  extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
}

export class Scorer {
  private constructor(private readonly session: ort.InferenceSession, readonly dim: number) {}

  /** Load and check a model: one float input [N, FEATURE_DIM], one output [N, 1]; warm it up. */
  static async load(bytes: Uint8Array, dim = FEATURE_DIM): Promise<Scorer> {
    let session: ort.InferenceSession
    try {
      session = await ort.InferenceSession.create(bytes, SESSION_OPTIONS)
    } catch (err) {
      throw new ModelError(`not a loadable ONNX model: ${(err as Error).message.split('\n')[0]}`)
    }
    const fail = async (why: string): Promise<never> => {
      await session.release().catch(() => {})
      throw new ModelError(why)
    }
    if (session.inputNames.length !== 1 || session.inputNames[0] !== 'features') await fail(`expected one input named "features", got ${JSON.stringify(session.inputNames)}`)
    if (!session.outputNames.includes('score')) await fail(`expected an output named "score", got ${JSON.stringify(session.outputNames)}`)
    const meta = (session as unknown as { inputMetadata?: { shape?: (number | string)[]; type?: string }[] }).inputMetadata?.[0]
    if (meta?.shape && meta.shape.length === 2 && typeof meta.shape[1] === 'number' && meta.shape[1] !== dim) await fail(`the model takes ${meta.shape[1]} features, the gateway builds ${dim}`)
    if (meta?.type && meta.type !== 'float32') await fail(`the model takes ${meta.type}, not float32`)
    const scorer = new Scorer(session, dim)
    // warm up, and prove the output has one score per row
    try {
      const out = await scorer.score(new Float32Array(dim * 4), 4)
      if (out.length !== 4) await fail(`the model returned ${out.length} scores for 4 rows`)
      for (const v of out) if (!Number.isFinite(v)) await fail('the model returned a non-finite score')
      for (let i = 0; i < 20; i++) await scorer.score(new Float32Array(dim * 16), 16)
    } catch (err) {
      if (err instanceof ModelError) throw err
      await fail(`the model does not run on [N, ${dim}] features: ${(err as Error).message.split('\n')[0]}`)
    }
    return scorer
  }

  /** Scores of `n` rows laid out in `features` (n x dim). */
  async score(features: Float32Array, n: number): Promise<Float32Array> {
    const input = new ort.Tensor('float32', features.length === n * this.dim ? features : features.subarray(0, n * this.dim), [n, this.dim])
    // onnxruntime-node runs the model synchronously in a setImmediate: `features` must stay untouched until then
    const out = await this.session.run({ features: input })
    return out['score']!.data as Float32Array
  }

  async release(): Promise<void> {
    await this.session.release()
  }
}
