/**
 * Host-side encoding of plan steps. Mirrors wasm/common/op.ts: every step is a
 * 128-byte record of 32-bit words, word 0 the kind; the word meanings are
 * documented next to each kernel in wasm/.
 */
export const OP_BYTES = 128;
export const OP_WORDS = OP_BYTES / 4;
/** The last word of a record: the step's work counter, zeroed before every run. */
export const COUNTER_WORD = OP_WORDS - 1;
/** The word before it: the step's finished-units count, zeroed before every run. */
export const DONE_WORD = OP_WORDS - 2;
/** The step's unit count, left by the kernels when the caller's thread returns to wait for the step. */
export const UNITS_WORD = OP_WORDS - 3;

export enum OpKind {
  Igemm = 1,
  MaxPool = 2,
  AvgPool = 3,
  GlobalAvgPool = 4,
  Softmax = 5,
  Affine = 6,
  Winograd = 7,
  Sigmoid = 8,
  Winograd1d = 9,
  Pad = 10,
  PackwGemm = 11,
  PackwWinograd = 12,
  PackwDequantize = 13,
}

/** Word 13 of a pad step (wasm/f32-pad). */
export enum PadModeCode {
  Constant = 0,
  Reflect = 1,
  Edge = 2,
}

export interface IgemmStep {
  kind: OpKind.Igemm;
  M: number;
  N: number;
  kc: number;
  taps: number;
  indirection: number;
  weights: number;
  bias: number;
  out: number;
  outStride: number;
  relu: boolean;
  mc: number;
  mBlocks: number;
  nChunks: number;
  panelsPerChunk: number;
  tapsPerBlock: number;
  chansPerBlock: number;
  /** Byte offset added to every input row pointer (a group's channel slice); 0 when absent. */
  chanOffset?: number;
  /** Int8 weights: address of their column scales (`weights` then holds int8 panels); absent for float32. */
  scales?: number;
}

export interface PoolStep {
  kind: OpKind.MaxPool | OpKind.AvgPool;
  batch: number;
  H: number;
  W: number;
  C: number;
  input: number;
  inStride: number;
  OH: number;
  OW: number;
  out: number;
  outStride: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  padTop: number;
  padLeft: number;
  padBottom: number;
  padRight: number;
  countIncludePad: boolean;
  dh: number;
  dw: number;
}

export interface GlobalAvgPoolStep {
  kind: OpKind.GlobalAvgPool;
  batch: number;
  pixels: number;
  C: number;
  input: number;
  inStride: number;
  out: number;
  outStride: number;
}

export interface SoftmaxStep {
  kind: OpKind.Softmax;
  rows: number;
  cols: number;
  /** Rows interleaved in each block of `rows`: a row's values are `inner` floats apart (1: over channels). */
  inner: number;
  input: number;
  inStride: number;
  out: number;
  outStride: number;
  /** LogSoftmax instead: x - max - log(sum(exp(x - max))). */
  log: boolean;
}

export interface SigmoidStep {
  kind: OpKind.Sigmoid;
  pixels: number;
  C: number;
  input: number;
  inStride: number;
  out: number;
  outStride: number;
}

export interface AffineStep {
  kind: OpKind.Affine;
  pixels: number;
  C: number;
  input: number;
  inStride: number;
  out: number;
  outStride: number;
  scale: number;
  shift: number;
  relu: boolean;
}

export interface WinogradStep {
  kind: OpKind.Winograd;
  /** Output tile side: 4 for F(4x4, 3x3), 2 for F(2x2, 5x5). */
  tileOutputs: number;
  batch: number;
  H: number;
  W: number;
  cin: number;
  input: number;
  inStride: number;
  OH: number;
  OW: number;
  cout: number;
  out: number;
  outStride: number;
  padTop: number;
  padLeft: number;
  weights: number;
  bias: number;
  relu: boolean;
  scratch: number;
  /** Bytes between threads' scratch slices: the plan-wide largest need (see plan.ts). */
  scratchStride: number;
  tilesPerBlock: number;
  zeroRow: number;
  panelsPerChunk: number;
}

/** Like a WinogradStep, plus the 1-D transform (wasm/f32-winograd1d): the bias is followed by Bᵀ and Aᵀ. */
export interface Winograd1dStep extends Omit<WinogradStep, "kind"> {
  kind: OpKind.Winograd1d;
  vertical: boolean;
  alpha: number;
  /** Int8 transformed weights: address of their column scales; absent for float32. */
  scales?: number;
}

export interface PadStep {
  kind: OpKind.Pad;
  batch: number;
  H: number;
  W: number;
  C: number;
  input: number;
  inStride: number;
  OH: number;
  OW: number;
  out: number;
  outStride: number;
  padTop: number;
  padLeft: number;
  mode: PadModeCode;
  /** The constant mode's fill. */
  value: number;
}

/** Load-time weight packing (wasm/f32-packw/gemm.ts): a K x N matrix into 8-column panels. */
export interface PackwGemmStep {
  kind: OpKind.PackwGemm;
  src: number;
  K: number;
  N: number;
  /** Bytes from one source row to the next. */
  srcRowStride: number;
  dst: number;
  /** N float64 column scales applied while packing; absent for none. */
  scales?: number;
}

/** Load-time 1-D Winograd kernel transform into packed matrices (wasm/f32-packw/winograd.ts). */
export interface PackwWinogradStep {
  kind: OpKind.PackwWinograd;
  src: number;
  cin: number;
  cout: number;
  dst: number;
  /** α x r float64 matrix. */
  G: number;
  alpha: number;
  r: number;
  scratch: number;
  /** Cout float64 column scales applied to the kernel first; absent for none. */
  scales?: number;
}

/** Load-time decoding of uint8-quantized weights (wasm/f32-packw/dequantize.ts). */
export interface PackwDequantizeStep {
  kind: OpKind.PackwDequantize;
  codes: number;
  count: number;
  /** min then step, float64. */
  params: number;
  dst: number;
}

export type Step = IgemmStep | PoolStep | GlobalAvgPoolStep | SoftmaxStep | AffineStep | WinogradStep | SigmoidStep | Winograd1dStep | PadStep
  | PackwGemmStep | PackwWinogradStep | PackwDequantizeStep;

/** The bits of `value` rounded to float32, as the kernel reinterprets them. */
function float32Bits(value: number): number {
  const bits = new Int32Array(1);
  new Float32Array(bits.buffer)[0] = value;
  return bits[0]!;
}

/** Words 0-21, which both Winograd kernels read alike. */
function winogradWords(step: WinogradStep | Winograd1dStep): number[] {
  return [step.kind, step.batch, step.H, step.W, step.cin, step.input, step.inStride, step.OH, step.OW,
    step.cout, step.out, step.outStride, step.padTop, step.padLeft, step.weights, step.bias,
    step.relu ? 1 : 0, step.scratch, step.scratchStride, step.tilesPerBlock, step.zeroRow, step.panelsPerChunk];
}

/** The word values of `step`, in the order its kernel reads them. */
function words(step: Step): number[] {
  switch (step.kind) {
    case OpKind.Igemm:
      return [step.kind, step.M, step.N, step.kc, step.taps, step.indirection, step.weights, step.bias,
        step.out, step.outStride, step.relu ? 1 : 0, step.mc, step.mBlocks, step.nChunks, step.panelsPerChunk,
        step.tapsPerBlock, step.chansPerBlock, step.chanOffset ?? 0, step.scales ?? 0];
    case OpKind.MaxPool:
    case OpKind.AvgPool:
      return [step.kind, step.batch, step.H, step.W, step.C, step.input, step.inStride, step.OH, step.OW,
        step.out, step.outStride, step.kh, step.kw, step.sh, step.sw,
        step.padTop, step.padLeft, step.padBottom, step.padRight, step.countIncludePad ? 1 : 0, step.dh, step.dw];
    case OpKind.GlobalAvgPool:
      return [step.kind, step.batch, step.pixels, step.C, step.input, step.inStride, step.out, step.outStride];
    case OpKind.Softmax:
      return [step.kind, step.rows, step.cols, step.input, step.inStride, step.out, step.outStride, step.log ? 1 : 0, step.inner];
    case OpKind.Sigmoid:
      return [step.kind, step.pixels, step.C, step.input, step.inStride, step.out, step.outStride];
    case OpKind.Affine:
      return [step.kind, step.pixels, step.C, step.input, step.inStride, step.out, step.outStride,
        step.scale, step.shift, step.relu ? 1 : 0];
    case OpKind.Winograd:
      return [...winogradWords(step), step.tileOutputs];
    case OpKind.Winograd1d:
      return [...winogradWords(step), step.vertical ? 1 : 0, step.tileOutputs, step.alpha, step.scales ?? 0];
    case OpKind.Pad:
      return [step.kind, step.batch, step.H, step.W, step.C, step.input, step.inStride, step.OH, step.OW,
        step.out, step.outStride, step.padTop, step.padLeft, step.mode, float32Bits(step.value)];
    case OpKind.PackwGemm:
      return [step.kind, step.src, step.K, step.N, step.srcRowStride, step.dst, step.scales ?? 0];
    case OpKind.PackwWinograd:
      return [step.kind, step.src, step.cin, step.cout, step.dst, step.G, step.alpha, step.r, step.scratch, step.scales ?? 0];
    case OpKind.PackwDequantize:
      return [step.kind, step.codes, step.count, step.params, step.dst];
  }
}

/** Writes `steps` as records starting at byte `at` of `memory`. */
export function encodeSteps(memory: ArrayBufferLike, at: number, steps: readonly Step[]): void {
  const view = new Int32Array(memory, at, steps.length * OP_WORDS);
  view.fill(0);
  steps.forEach((step, i) => {
    const w = words(step);
    // The last words of a record are the run's counters (UNITS_WORD and after).
    if (w.length > UNITS_WORD) throw new Error(`internal error: a step of kind ${step.kind} has ${w.length} words, past the ${UNITS_WORD} a record leaves for them`);
    for (let j = 0; j < w.length; j++) {
      // Addresses are unsigned 32-bit; `| 0` keeps values ≥ 2^31 intact bit for bit.
      view[i * OP_WORDS + j] = w[j]! | 0;
    }
  });
}
