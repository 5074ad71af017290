import type { Conv2DNode, DenseNode, Graph } from "../graph/ir.js";
import { batchNormAffine } from "../passes/fold-batchnorm.js";
import { alignUp } from "./arena.js";

/**
 * Constant data the kernels read, packed once at load into the model's wasm
 * memory: GEMM weights as 8-column panels (K x 8 floats each, columns past N
 * zero) and biases padded to a multiple of 8; scale/shift of any BN left
 * unfolded, padded to a multiple of 4.
 */
export interface WeightEntry {
  /** Byte offsets inside the weight region. */
  weights: number;
  bias: number;
}

export interface WeightLayout {
  entries: Map<string, WeightEntry>;
  bytes: number;
  /** Packs every entry into `memory` with the region starting at byte `base`. */
  write(memory: ArrayBufferLike, base: number): void;
}

const REGION_ALIGN = 64;

/** K x N row-major matrix (HWIO kernels flattened are exactly that) to 8-column panels. */
function packPanels(dst: Float32Array, at: number, src: Float32Array, K: number, N: number): void {
  const panels = Math.ceil(N / 8);
  for (let p = 0; p < panels; p++) {
    const n0 = p * 8;
    const width = Math.min(8, N - n0);
    let o = at + p * K * 8;
    for (let k = 0; k < K; k++, o += 8) {
      const row = k * N + n0;
      for (let j = 0; j < width; j++) dst[o + j] = src[row + j]!;
      // Padding columns stay zero: the region is zero-filled before packing.
    }
  }
}

function gemmShape(node: Conv2DNode | DenseNode): { K: number; N: number } {
  if (node.op === "conv2d") {
    const [kh, kw, cin, cout] = node.kernelShape;
    return { K: kh * kw * cin, N: cout };
  }
  return { K: node.kernelShape[0], N: node.kernelShape[1] };
}

export function layoutWeights(graph: Graph): WeightLayout {
  const entries = new Map<string, WeightEntry>();
  const writers: ((f32: Float32Array, base: number) => void)[] = [];
  let bytes = 0;
  const take = (n: number): number => {
    const at = bytes;
    bytes = alignUp(bytes + n, REGION_ALIGN);
    return at;
  };
  for (const node of graph.nodes) {
    if (node.op === "conv2d" || node.op === "dense") {
      const { K, N } = gemmShape(node);
      const panels = Math.ceil(N / 8);
      const w = take(panels * K * 8 * 4);
      const b = take(panels * 8 * 4);
      entries.set(node.name, { weights: w, bias: b });
      writers.push((f32, base) => {
        packPanels(f32, (base + w) / 4, node.kernel, K, N);
        if (node.bias) f32.set(node.bias, (base + b) / 4);
      });
    } else if (node.op === "batchnorm") {
      const { scale, shift } = batchNormAffine(node);
      const padded = alignUp(scale.length, 4) * 4;
      const s = take(padded);
      const t = take(padded);
      entries.set(node.name, { weights: s, bias: t });
      writers.push((f32, base) => {
        f32.set(scale, (base + s) / 4);
        f32.set(shift, (base + t) / 4);
      });
    }
  }
  return {
    entries,
    bytes,
    write(memory, base) {
      new Uint8Array(memory, base, bytes).fill(0);
      const f32 = new Float32Array(memory);
      for (const w of writers) w(f32, base);
    },
  };
}
