/**
 * Writing a trained model as ONNX (onnx-proto): input `features` float32 [N, D], output `score` float32 [N, 1]
 * (the probability of redemption). Metadata carries the feature version and model details.
 */
import onnxProto from 'onnx-proto'
import type { Params } from './nn.js'
import type { GbdtModel } from './gbdt.js'

const { onnx } = onnxProto
const FLOAT = onnx.TensorProto.DataType.FLOAT
const INT64 = onnx.TensorProto.DataType.INT64

const tensor = (name: string, dims: number[], values: ArrayLike<number>) =>
  onnx.TensorProto.create({ name, dims, dataType: FLOAT, floatData: Array.from(values, (v) => Math.fround(v)) })
const node = (opType: string, input: string[], output: string[], attribute: ReturnType<typeof onnx.AttributeProto.create>[] = []) =>
  onnx.NodeProto.create({ opType, input, output, attribute })
const io = (name: string, dims: (number | string)[]) => onnx.ValueInfoProto.create({
  name,
  type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
})

export function toOnnx(p: Params, meta: Record<string, string>): Uint8Array {
  const D = p.spec.dim
  const initializer: ReturnType<typeof tensor>[] = []
  const nodes: ReturnType<typeof node>[] = []
  switch (p.spec.kind) {
    case 'lr':
      initializer.push(tensor('w', [D, 1], p.w), tensor('b', [1], p.b))
      nodes.push(node('MatMul', ['features', 'w'], ['xw']), node('Add', ['xw', 'b'], ['logit']))
      break
    case 'mlp': {
      const H = p.b1.length
      initializer.push(tensor('W1', [D, H], p.W1), tensor('b1', [H], p.b1), tensor('w2', [H, 1], p.w), tensor('b2', [1], p.b))
      nodes.push(
        node('MatMul', ['features', 'W1'], ['h0']), node('Add', ['h0', 'b1'], ['h1']), node('Relu', ['h1'], ['h2']),
        node('MatMul', ['h2', 'w2'], ['o0']), node('Add', ['o0', 'b2'], ['logit']),
      )
      break
    }
    case 'fm': {
      const K = p.V.length / D
      const V2 = Float64Array.from(p.V, (v) => v * v)
      initializer.push(
        tensor('w', [D, 1], p.w), tensor('b', [1], p.b), tensor('V', [D, K], p.V), tensor('V2', [D, K], V2), tensor('half', [1], [0.5]),
        onnx.TensorProto.create({ name: 'axes', dims: [1], dataType: INT64, int64Data: [1] }),
      )
      nodes.push(
        node('MatMul', ['features', 'w'], ['xw']), node('Add', ['xw', 'b'], ['lin']),
        node('MatMul', ['features', 'V'], ['s']), node('Mul', ['s', 's'], ['s2']),
        node('Mul', ['features', 'features'], ['xx']), node('MatMul', ['xx', 'V2'], ['t']),
        node('Sub', ['s2', 't'], ['d']), node('ReduceSum', ['d', 'axes'], ['ds'], [onnx.AttributeProto.create({ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 1 })]),
        node('Mul', ['ds', 'half'], ['pair']), node('Add', ['lin', 'pair'], ['logit']),
      )
      break
    }
  }
  nodes.push(node('Sigmoid', ['logit'], ['score']))
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'aisle-edge',
    producerVersion: meta['version'] ?? '',
    opsetImport: [{ domain: '', version: 13 }],
    metadataProps: Object.entries(meta).map(([key, value]) => ({ key, value })),
    graph: onnx.GraphProto.create({ name: `recommender-${p.spec.kind}`, input: [io('features', ['N', D])], output: [io('score', ['N', 1])], initializer, node: nodes }),
  })
  return onnx.ModelProto.encode(model).finish()
}

/** Metadata of an ONNX file (feature version and the like), without onnxruntime. */
export function onnxMetadata(bytes: Uint8Array): Record<string, string> {
  const m = onnx.ModelProto.decode(bytes)
  return Object.fromEntries((m.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? '']))
}

const AT = onnx.AttributeProto.AttributeType
const attrInts = (name: string, v: ArrayLike<number>) => onnx.AttributeProto.create({ name, type: AT.INTS, ints: Array.from(v) })
const attrFloats = (name: string, v: ArrayLike<number>) => onnx.AttributeProto.create({ name, type: AT.FLOATS, floats: Array.from(v, (x) => Math.fround(x)) })
const attrStrings = (name: string, v: string[]) => onnx.AttributeProto.create({ name, type: AT.STRINGS, strings: v.map((x) => new TextEncoder().encode(x)) })
const attrString = (name: string, v: string) => onnx.AttributeProto.create({ name, type: AT.STRING, s: new TextEncoder().encode(v) })
const attrInt = (name: string, v: number) => onnx.AttributeProto.create({ name, type: AT.INT, i: v })

/**
 * Boosted trees as ai.onnx.ml TreeEnsembleRegressor (the sum of the trees' leaves plus the base logit),
 * then Sigmoid: the same input and output as the other models. Branches are `x <= threshold` (BRANCH_LEQ)
 * with float32 thresholds that are data values, as the trainer compares them.
 */
export function gbdtToOnnx(m: GbdtModel, meta: Record<string, string>): Uint8Array {
  const D = m.spec.dim
  const treeIds: number[] = [], nodeIds: number[] = [], featureIds: number[] = [], values: number[] = [], modes: string[] = [], trueIds: number[] = [], falseIds: number[] = []
  const tTree: number[] = [], tNode: number[] = [], tIds: number[] = [], tWeights: number[] = []
  m.trees.forEach((t, ti) => {
    for (let n = 0; n < t.feature.length; n++) {
      treeIds.push(ti); nodeIds.push(n)
      const leaf = t.feature[n]! < 0
      featureIds.push(leaf ? 0 : t.feature[n]!)
      values.push(leaf ? 0 : t.threshold[n]!)
      modes.push(leaf ? 'LEAF' : 'BRANCH_LEQ')
      trueIds.push(leaf ? 0 : t.left[n]!)
      falseIds.push(leaf ? 0 : t.right[n]!)
      if (leaf) { tTree.push(ti); tNode.push(n); tIds.push(0); tWeights.push(t.value[n]!) }
    }
  })
  if (m.trees.length === 0) {
    // no tree helped: one leaf of 0, the model is the base rate
    treeIds.push(0); nodeIds.push(0); featureIds.push(0); values.push(0); modes.push('LEAF'); trueIds.push(0); falseIds.push(0)
    tTree.push(0); tNode.push(0); tIds.push(0); tWeights.push(0)
  }
  const ensemble = node('TreeEnsembleRegressor', ['features'], ['logit'], [
    attrInt('n_targets', 1),
    attrInts('nodes_treeids', treeIds), attrInts('nodes_nodeids', nodeIds), attrInts('nodes_featureids', featureIds),
    attrFloats('nodes_values', values), attrStrings('nodes_modes', modes),
    attrInts('nodes_truenodeids', trueIds), attrInts('nodes_falsenodeids', falseIds),
    attrInts('nodes_missing_value_tracks_true', treeIds.map(() => 0)),
    attrInts('target_treeids', tTree), attrInts('target_nodeids', tNode), attrInts('target_ids', tIds), attrFloats('target_weights', tWeights),
    attrFloats('base_values', [m.base]), attrString('aggregate_function', 'SUM'), attrString('post_transform', 'NONE'),
  ])
  ensemble.domain = 'ai.onnx.ml'
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'aisle-edge',
    producerVersion: meta['version'] ?? '',
    opsetImport: [{ domain: '', version: 13 }, { domain: 'ai.onnx.ml', version: 3 }],
    metadataProps: Object.entries(meta).map(([key, value]) => ({ key, value })),
    graph: onnx.GraphProto.create({ name: 'recommender-gbdt', input: [io('features', ['N', D])], output: [io('score', ['N', 1])], node: [ensemble, node('Sigmoid', ['logit'], ['score'])] }),
  })
  return onnx.ModelProto.encode(model).finish()
}
