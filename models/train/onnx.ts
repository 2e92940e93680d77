/**
 * Writing a trained model as ONNX (onnx-proto): input `features` float32 [N, D], output `score` float32 [N, 1]
 * (the probability of redemption). Metadata carries the feature version and model details.
 */
import onnxProto from 'onnx-proto'
import type { Params } from './nn.js'

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
