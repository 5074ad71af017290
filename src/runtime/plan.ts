import { consumers } from "../graph/consumers.js";
import { convDilations, convGroups, nodeAxis, poolSpan, type Conv2DNode, type Graph, type Node, type PoolNode } from "../graph/ir.js";
import { alignUp, planArena } from "./arena.js";
import { rowBands, type RowBands } from "./bands.js";
import { encodeSteps, OP_BYTES, OpKind, PadModeCode, type Step } from "./ops.js";
import type { WeightLayout } from "./weights.js";
import { usesWinograd, WINOGRAD_MATRICES, winogradBlocking, winogradTile } from "./winograd.js";
import { usesWinograd1d, winograd1dBlocking, winograd1dShape } from "./winograd1d.js";

/**
 * Lowers an optimized graph to a static plan for one batch size and thread
 * count: a list of kernel steps, their indirection buffers and one arena for
 * every activation, all at fixed addresses. Made once; inference then only
 * writes the input, runs the steps and reads the outputs.
 *
 * Concatenation costs nothing: a tensor whose only reader is a concat is
 * placed straight into its channel slot of the concat's buffer (a "view" with
 * the concat's pixel stride), and every kernel takes input and output pixel
 * strides. Flatten and kept Identity nodes share their input's storage.
 * Concats and softmaxes along another axis than channels address whole
 * contiguous tensors instead: they neither read nor write views.
 *
 * A large convolution output read only by a max pool is computed in row
 * bands (bands.ts): its storage is a band buffer, not the whole tensor.
 */

/** Where a tensor's values live: pixel p of the whole batch starts at `address + p * pixelStride`. */
export interface BoundTensor {
  name: string;
  /** Per-sample shape. */
  shape: number[];
  address: number;
  /** Bytes between consecutive pixels (more than channels*4 for a view into a concat). */
  pixelStride: number;
  /** Pixels per sample: H*W for images, 1 for flat tensors. */
  pixels: number;
  channels: number;
}

export interface Plan {
  batch: number;
  /** Address of the first step record and the number of steps. */
  ops: number;
  steps: number;
  /** Multiply-accumulates (or element visits) per step, to pace cooperative single-thread runs. */
  costs: number[];
  /** The graph node each step computes (a concat for the copies into it), for profiles and diagnostics. */
  stepNodes: string[];
  inputs: BoundTensor[];
  outputs: Map<string, BoundTensor>;
}

export interface PlanLayout {
  /** Bytes of wasm memory the plan needs (steps, indirection, zero row, arena). */
  bytes: number;
  arenaBytes: number;
  /** Writes the plan into `memory` at `base`; weights were packed at `weightsBase`. */
  materialize(memory: ArrayBufferLike, base: number, weightsBase: number): Plan;
}

export interface PlanOptions {
  batch: number;
  threads: number;
  /** Tensors to make readable after a run, besides the graph outputs. */
  outputs: readonly string[];
}

interface Storage {
  root: string;
  offset: number;
  pixelStride: number;
  pixels: number;
}

/** A step whose addresses are filled in once the region's base is known. */
interface PendingStep {
  node: string;
  reads: string[];
  writes: string[];
  cost: number;
  /** Bytes of indirection buffer it needs (igemm only). */
  indirectionBytes: number;
  build(at: Addresses): Step;
}

interface Addresses {
  memory: ArrayBufferLike;
  tensor(name: string): Storage & { address: number };
  /** Addresses of a node's constants; `scales` only for int8 weights (see WeightEntry). */
  weights(node: string): { weights: number; bias: number; scales?: number };
  /** Start of this step's indirection buffer. */
  indirection: number;
  zeroRow: number;
  /** Per-thread scratch shared by all steps (Winograd tiles), `threads` slices. */
  scratch: number;
  /**
   * Bytes per thread slice of the scratch: the largest step's need, the same
   * for every step, since threads may be in different steps at once (a
   * thread still entering a step whose units others finished).
   */
  scratchStride: number;
}

const REGION_ALIGN = 64;
/** A block of A rows x one K block stays in L2 while panel slices stream through L1. */
const A_BLOCK_BYTES = 192 * 1024;
/** Floats of K per block at most: an 8-column panel slice of this depth is 24 KB, inside a 32 KB L1. */
const K_BLOCK = 768;

function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/**
 * The rows a convolution or pool step covers: all of them for the whole
 * batch, or one band of one image (bands.ts).
 */
interface RowWindow {
  batch: number;
  /** The first input row read, and rows from there to the image's end. */
  input: number;
  H: number;
  /** Zero rows above `input`. */
  padTop: number;
  /** Output rows written from `out`. */
  OH: number;
  out: number;
}

/** A convolution or pool step over any window of rows: kept for the convolutions computed in bands. */
interface RowSteps {
  build(at: Addresses, window: RowWindow): Step;
  /** Cost of `OH` output rows of `batch` images. */
  cost(batch: number, OH: number): number;
}

/** A convolution's input size, output width and window (taps, strides, top-left padding, dilations). */
interface ConvWindow {
  H: number;
  W: number;
  OW: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  top: number;
  left: number;
  dh: number;
  dw: number;
}

/**
 * Writes the indirection entries of output row `oy` of image `n` from entry
 * `i` on (each pixel's taps in order: the input pixel's address, or the zero
 * row where the tap falls in the padding) and returns the next entry. A
 * function of its own, called per row, so it is optimized after a few rows:
 * one loop over a whole image ran unoptimized until on-stack replacement
 * (measured on 149x149x9 entries: first build 13 -> 4.5 ms).
 */
function indirectionRow(ind: Uint32Array, i: number, c: ConvWindow, src: { address: number; pixelStride: number }, zeroRow: number, n: number, oy: number): number {
  for (let ox = 0; ox < c.OW; ox++) {
    for (let ky = 0; ky < c.kh; ky++) {
      const iy = oy * c.sh - c.top + ky * c.dh;
      const rowInside = iy >= 0 && iy < c.H;
      const row = src.address + (n * c.H + iy) * c.W * src.pixelStride;
      for (let kx = 0; kx < c.kw; kx++) {
        const ix = ox * c.sw - c.left + kx * c.dw;
        ind[i++] = rowInside && ix >= 0 && ix < c.W ? row + ix * src.pixelStride : zeroRow;
      }
    }
  }
  return i;
}

function fail(node: Node, message: string): never {
  throw new Error(`node ${node.name} (${node.op}): ${message}`);
}

/**
 * How a GEMM of M rows, N columns and K = taps x cin is cut: K blocks of
 * whole taps (or a channel range of one tap when cin alone exceeds K_BLOCK),
 * and (M block, N chunk) units, enough of them for every thread to claim work
 * until the end of the step.
 */
function gemmBlocking(M: number, N: number, taps: number, cin: number, threads: number) {
  let tapsPerBlock = Math.max(1, Math.floor(K_BLOCK / cin));
  let chansPerBlock = cin;
  if (cin > K_BLOCK) {
    tapsPerBlock = 1;
    chansPerBlock = Math.ceil(cin / Math.ceil(cin / K_BLOCK));
  }
  const kBlock = Math.min(taps, tapsPerBlock) * chansPerBlock;
  const mc = Math.min(256, Math.max(16, Math.floor(A_BLOCK_BYTES / (kBlock * 4) / 4) * 4));
  const mBlocks = Math.ceil(M / mc);
  const panels = Math.ceil(N / 8);
  const wanted = 4 * threads;
  const chunks = mBlocks >= wanted ? 1 : Math.min(panels, Math.ceil(wanted / mBlocks));
  const panelsPerChunk = Math.ceil(panels / chunks);
  return { mc, mBlocks, nChunks: Math.ceil(panels / panelsPerChunk), panelsPerChunk, tapsPerBlock, chansPerBlock };
}

export function makePlan(graph: Graph, shapes: Map<string, number[]>, weights: WeightLayout, opts: PlanOptions): PlanLayout {
  const B = opts.batch;
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const readers = consumers(graph);
  const shapeOf = (name: string): number[] => shapes.get(name)!;
  const channelsOf = (name: string): number => shapeOf(name).at(-1)!;
  const pixelsOf = (name: string): number => product(shapeOf(name).slice(0, -1));

  for (const name of opts.outputs) {
    // Model.run checks names first; this guards direct Session users.
    if (!byName.has(name)) throw new Error(`no tensor named ${name} in the optimized graph (fused tensors must be kept at load time)`);
  }
  const outputNames = new Set([...graph.outputs, ...opts.outputs]);

  // Which tensors are written straight into a concat's buffer.
  const viewOf = new Map<string, { concat: string; offset: number }>();
  const aliasOf = new Map<string, string>();
  const alongChannels = (node: Node) =>
    (node.op !== "concat" && node.op !== "softmax" && node.op !== "logsoftmax") || nodeAxis(node, shapeOf(node.name).length) === shapeOf(node.name).length - 1;
  for (const node of graph.nodes) {
    if (node.op === "identity" || node.op === "flatten") {
      // A flatten input is never a strided view (views have the concat as sole reader), so it is contiguous.
      aliasOf.set(node.name, node.inputs[0]!);
    } else if (node.op === "concat" && alongChannels(node)) {
      let offset = 0;
      for (const input of node.inputs) {
        const producer = byName.get(input)!;
        const sole = readers.get(input)!.length === 1 && node.inputs.filter((i) => i === input).length === 1;
        const writable = producer.op !== "input" && producer.op !== "identity" && producer.op !== "flatten" && alongChannels(producer);
        if (sole && writable && !viewOf.has(input)) viewOf.set(input, { concat: node.name, offset });
        offset += channelsOf(input) * 4;
      }
    }
  }

  // Convolutions computed in row bands with the max pool that is their only
  // reader (bands.ts), by name. Only 2-D Winograd ones: their step takes any
  // window of input and output rows as it is, where an igemm band would need
  // its own slice of indirection, and every such pair in Inception is a
  // Winograd one. A pool padded above or below would shift the bands' rows.
  const bandsOf = new Map<string, RowBands>();
  for (const pool of graph.nodes) {
    if (pool.op !== "maxpool" || pool.pads.top !== 0 || pool.pads.bottom !== 0) continue;
    const conv = byName.get(pool.inputs[0]!)!;
    if (conv.op !== "conv2d" || readers.get(conv.name)!.length !== 1 || outputNames.has(conv.name)) continue;
    const convShape = shapeOf(conv.name);
    if (usesWinograd1d(conv, convShape) || !usesWinograd(conv, convShape)) continue;
    const [OH, OW, cout] = convShape as [number, number, number];
    const { tilesPerBlock, panelsPerChunk } = winogradBlocking(conv.kernelShape[2], cout);
    const m = winogradTile(conv)!.m;
    const chunks = Math.ceil(Math.ceil(cout / 8) / panelsPerChunk);
    const bands = rowBands({
      convRows: OH, rowBytes: OW * cout * 4, tile: m,
      poolRows: shapeOf(pool.name)[0]!, span: poolSpan(pool)[0], stride: pool.strides[0], threads: opts.threads,
      units: (tileRows) => chunks * Math.ceil((tileRows * Math.ceil(OW / m)) / tilesPerBlock),
    });
    if (bands) bandsOf.set(conv.name, bands);
  }

  const storageCache = new Map<string, Storage>();
  const storage = (name: string): Storage => {
    let s = storageCache.get(name);
    if (s) return s;
    const alias = aliasOf.get(name);
    const view = viewOf.get(name);
    if (alias !== undefined) {
      const inner = storage(alias);
      s = pixelsOf(name) === inner.pixels ? inner : { ...inner, pixelStride: inner.pixelStride * inner.pixels, pixels: 1 };
    } else if (view) {
      const outer = storage(view.concat);
      s = { ...outer, offset: outer.offset + view.offset };
    } else {
      s = { root: name, offset: 0, pixelStride: channelsOf(name) * 4, pixels: pixelsOf(name) };
    }
    storageCache.set(name, s);
    return s;
  };

  // Steps in graph order.
  const pending: PendingStep[] = [];
  const root = (name: string): string => storage(name).root;
  const bandedConvs = new Map<string, RowSteps>();
  /**
   * The steps of a banded convolution and its pool, image by image and band
   * by band: the copy of the rows carried from the previous band, the
   * convolution's rows below them and the pool rows they complete. Every
   * band reuses the one band buffer, the convolution output's storage.
   */
  const pushBands = (conv: Conv2DNode, convSteps: RowSteps, pool: PoolNode, poolSteps: RowSteps) => {
    const { bands } = bandsOf.get(conv.name)!;
    const [H, W] = shapeOf(conv.inputs[0]!) as [number, number, number];
    const [, OW, C] = shapeOf(conv.name) as [number, number, number];
    const [OHp, OWp] = shapeOf(pool.name) as [number, number, number];
    const rowBytes = OW * C * 4;
    const input = [root(conv.inputs[0]!)];
    const buffer = [root(conv.name)];
    const output = [root(pool.name)];
    for (let n = 0; n < B; n++) {
      for (const band of bands) {
        if (band.carry > 0) {
          pending.push({
            node: conv.name, reads: buffer, writes: buffer, cost: band.carry * OW * C, indirectionBytes: 0,
            build(at) {
              const top = at.tensor(conv.name).address;
              return {
                kind: OpKind.Affine, pixels: band.carry * OW, C, input: top + band.carrySource * rowBytes, inStride: C * 4,
                out: top, outStride: C * 4, scale: 0, shift: 0, relu: false,
              };
            },
          });
        }
        // From the first input row the band's tiles read, as they read it unbanded: padding rows only above the first band.
        const inputRow = Math.max(0, band.convFrom - conv.pads.top);
        const OH = band.convTo - band.convFrom;
        pending.push({
          node: conv.name, reads: input, writes: buffer, cost: convSteps.cost(1, OH), indirectionBytes: 0,
          build(at) {
            const src = at.tensor(conv.inputs[0]!);
            return convSteps.build(at, {
              batch: 1, input: src.address + (n * H + inputRow) * W * src.pixelStride, H: H - inputRow,
              padTop: inputRow - (band.convFrom - conv.pads.top), OH, out: at.tensor(conv.name).address + band.carry * rowBytes,
            });
          },
        });
        const rowsOut = band.poolTo - band.poolFrom;
        pending.push({
          node: pool.name, reads: buffer, writes: output, cost: poolSteps.cost(1, rowsOut), indirectionBytes: 0,
          build(at) {
            const dst = at.tensor(pool.name);
            return poolSteps.build(at, {
              batch: 1, input: at.tensor(conv.name).address, H: band.carry + OH, padTop: 0, OH: rowsOut,
              out: dst.address + (n * OHp + band.poolFrom) * OWp * dst.pixelStride,
            });
          },
        });
      }
    }
  };
  // The zero row doubles as the zero bias of the Winograd GEMMs: at least 8 floats.
  let maxKc = 8;
  let scratchPerThread = 0;
  for (const node of graph.nodes) {
    const out = node.name;
    const inName = node.inputs[0]!;
    switch (node.op) {
      case "input":
      case "identity":
      case "flatten":
        break;
      case "conv2d": {
        const [kh, kw, cin, cout] = node.kernelShape;
        const [H, W] = shapeOf(inName);
        const [OH, OW] = shapeOf(out);
        const oneD = usesWinograd1d(node, shapeOf(out)) && winograd1dShape(node);
        if (oneD || usesWinograd(node, shapeOf(out))) {
          // 1-D F(m, 7) along the kernel's long axis, or 2-D F(4x4, 3x3) / F(2x2, 5x5): the same step but for the transform.
          const { tilesPerBlock, panelsPerChunk, scratchBytes } = oneD
            ? winograd1dBlocking(cin, cout, oneD, OH!, OW!, B, opts.threads)
            : winogradBlocking(cin, cout);
          scratchPerThread = Math.max(scratchPerThread, scratchBytes);
          maxKc = Math.max(maxKc, cin);
          // Outputs per tile side: m of F(m, r) or F(m x m, r x r).
          const tileOutputs = oneD ? oneD.m : winogradTile(node)!.m;
          const rowSteps: RowSteps = {
            build(at, win) {
              const w = at.weights(node.name);
              const step = {
                batch: win.batch, H: win.H, W: W!, cin, input: win.input, inStride: at.tensor(inName).pixelStride,
                OH: win.OH, OW: OW!, cout, out: win.out, outStride: at.tensor(out).pixelStride, padTop: win.padTop,
                padLeft: node.pads.left, weights: w.weights, bias: w.bias, relu: node.activation === "relu",
                scratch: at.scratch, scratchStride: at.scratchStride, tilesPerBlock, zeroRow: at.zeroRow, panelsPerChunk, tileOutputs,
              };
              if (oneD) return { ...step, kind: OpKind.Winograd1d, vertical: oneD.vertical, alpha: oneD.alpha, scales: w.scales };
              // 2-D Winograd kernels are float32 in every layout (keptFloat32 in weights.ts).
              if (w.scales !== undefined) throw new Error(`internal error: node ${node.name}: int8 weights for a 2-D Winograd convolution`);
              return { ...step, kind: OpKind.Winograd };
            },
            cost: (batch, rowsOut) => oneD
              ? (batch * rowsOut * OW! * cout * cin * oneD.alpha) / tileOutputs
              : batch * Math.ceil(rowsOut / tileOutputs) * Math.ceil(OW! / tileOutputs) * WINOGRAD_MATRICES * cin * cout,
          };
          if (bandsOf.has(out)) {
            // Its steps go with its pool's, band by band.
            bandedConvs.set(out, rowSteps);
            break;
          }
          pending.push({
            node: node.name, reads: [root(inName)], writes: [root(out)], cost: rowSteps.cost(B, OH!), indirectionBytes: 0,
            build: (at) => rowSteps.build(at, { batch: B, input: at.tensor(inName).address, H: H!, padTop: node.pads.top, OH: OH!, out: at.tensor(out).address }),
          });
          break;
        }
        const taps = kh * kw;
        const M = B * OH! * OW!;
        const [dh, dw] = convDilations(node);
        // Grouped: one GEMM per group over the same indirection buffer, reading
        // the group's input channel slice and writing its output channel slice.
        // Depthwise (one channel per group) is correct but not fast: K = taps.
        const groups = convGroups(node);
        const coutG = cout / groups;
        // Padded taps point at the zero row, which the channel offset moves along: it spans all input channels.
        maxKc = Math.max(maxKc, cin * groups);
        const blocking = gemmBlocking(M, coutG, taps, cin, opts.threads);
        const panelsG = Math.ceil(coutG / 8);
        let indirection: Uint32Array | null = null;
        for (let g = 0; g < groups; g++) {
          pending.push({
            node: node.name, reads: [root(inName)], writes: [root(out)], cost: M * coutG * taps * cin,
            // The first group's step owns the buffer; the others read it.
            indirectionBytes: g === 0 ? M * taps * 4 : 0,
            build(at) {
              const src = at.tensor(inName);
              const dst = at.tensor(out);
              if (g === 0) {
                const ind = new Uint32Array(at.memory, at.indirection, M * taps);
                const window: ConvWindow = {
                  H: H!, W: W!, OW: OW!, kh, kw, sh: node.strides[0], sw: node.strides[1],
                  top: node.pads.top, left: node.pads.left, dh, dw,
                };
                let i = 0;
                for (let n = 0; n < B; n++) {
                  for (let oy = 0; oy < OH!; oy++) i = indirectionRow(ind, i, window, src, at.zeroRow, n, oy);
                }
                indirection = ind;
              }
              const w = at.weights(node.name);
              return {
                kind: OpKind.Igemm, M, N: coutG, kc: cin, taps, indirection: indirection!.byteOffset,
                // A group's panels follow the previous group's: K x 8 weights of 4 bytes (float32) or 1 (int8) each.
                weights: w.weights + g * panelsG * taps * cin * (w.scales === undefined ? 32 : 8), bias: w.bias + g * panelsG * 32,
                scales: w.scales === undefined ? undefined : w.scales + g * panelsG * 32,
                out: dst.address + g * coutG * 4, outStride: dst.pixelStride,
                relu: node.activation === "relu", mc: blocking.mc, mBlocks: blocking.mBlocks,
                nChunks: blocking.nChunks, panelsPerChunk: blocking.panelsPerChunk,
                tapsPerBlock: blocking.tapsPerBlock, chansPerBlock: blocking.chansPerBlock,
                chanOffset: g * cin * 4,
              };
            },
          });
        }
        break;
      }
      case "dense": {
        const [cin, cout] = node.kernelShape;
        maxKc = Math.max(maxKc, cin);
        const blocking = gemmBlocking(B, cout, 1, cin, opts.threads);
        pending.push({
          node: node.name, reads: [root(inName)], writes: [root(out)], cost: B * cin * cout, indirectionBytes: B * 4,
          build(at) {
            const src = at.tensor(inName);
            const dst = at.tensor(out);
            const ind = new Uint32Array(at.memory, at.indirection, B);
            for (let n = 0; n < B; n++) ind[n] = src.address + n * src.pixelStride;
            const w = at.weights(node.name);
            return {
              kind: OpKind.Igemm, M: B, N: cout, kc: cin, taps: 1, indirection: at.indirection,
              weights: w.weights, bias: w.bias, scales: w.scales, out: dst.address, outStride: dst.pixelStride,
              relu: node.activation === "relu", mc: blocking.mc, mBlocks: blocking.mBlocks,
              nChunks: blocking.nChunks, panelsPerChunk: blocking.panelsPerChunk,
              tapsPerBlock: blocking.tapsPerBlock, chansPerBlock: blocking.chansPerBlock,
            };
          },
        });
        break;
      }
      case "maxpool":
      case "avgpool": {
        const [H, W, C] = shapeOf(inName);
        const [OH, OW] = shapeOf(out);
        const [kh, kw] = node.window;
        const [dh, dw] = node.dilations ?? [1, 1];
        const [spanH, spanW] = poolSpan(node);
        const { top, left, bottom, right } = node.pads;
        if (top >= spanH || bottom >= spanH || left >= spanW || right >= spanW) {
          fail(node, `padding ${top},${left},${bottom},${right} must be smaller than the ${spanH}x${spanW} window`);
        }
        const rowSteps: RowSteps = {
          build: (at, win) => ({
            kind: node.op === "maxpool" ? OpKind.MaxPool : OpKind.AvgPool, batch: win.batch, H: win.H, W: W!, C: C!,
            input: win.input, inStride: at.tensor(inName).pixelStride, OH: win.OH, OW: OW!, out: win.out,
            outStride: at.tensor(out).pixelStride, kh, kw, sh: node.strides[0], sw: node.strides[1],
            padTop: win.padTop, padLeft: left, padBottom: bottom, padRight: right, countIncludePad: node.countIncludePad, dh, dw,
          }),
          cost: (batch, rowsOut) => batch * rowsOut * OW! * C! * kh * kw,
        };
        const convSteps = bandedConvs.get(inName);
        if (convSteps) {
          pushBands(byName.get(inName) as Conv2DNode, convSteps, node, rowSteps);
          break;
        }
        pending.push({
          node: node.name, reads: [root(inName)], writes: [root(out)], cost: rowSteps.cost(B, OH!), indirectionBytes: 0,
          build: (at) => rowSteps.build(at, { batch: B, input: at.tensor(inName).address, H: H!, padTop: top, OH: OH!, out: at.tensor(out).address }),
        });
        break;
      }
      case "pad": {
        const [H, W, C] = shapeOf(inName);
        const [OH, OW] = shapeOf(out);
        const mode = { constant: PadModeCode.Constant, reflect: PadModeCode.Reflect, edge: PadModeCode.Edge }[node.mode];
        pending.push({
          node: node.name, reads: [root(inName)], writes: [root(out)], cost: B * OH! * OW! * C!, indirectionBytes: 0,
          build(at) {
            const src = at.tensor(inName);
            const dst = at.tensor(out);
            return {
              kind: OpKind.Pad, batch: B, H: H!, W: W!, C: C!, input: src.address, inStride: src.pixelStride,
              OH: OH!, OW: OW!, out: dst.address, outStride: dst.pixelStride, padTop: node.pads.top, padLeft: node.pads.left,
              mode, value: node.value,
            };
          },
        });
        break;
      }
      case "globalavgpool": {
        const [H, W, C] = shapeOf(inName);
        pending.push({
          node: node.name, reads: [root(inName)], writes: [root(out)], cost: B * H! * W! * C!, indirectionBytes: 0,
          build(at) {
            const src = at.tensor(inName);
            const dst = at.tensor(out);
            return {
              kind: OpKind.GlobalAvgPool, batch: B, pixels: H! * W!, C: C!, input: src.address,
              inStride: src.pixelStride, out: dst.address, outStride: dst.pixelStride,
            };
          },
        });
        break;
      }
      case "softmax":
      case "logsoftmax": {
        // Rows of `cols` values `inner` floats apart: over channels, one row per pixel (pixel strides
        // apply); over another axis, the (contiguous) tensor is [outer, cols, inner].
        const shape = shapeOf(inName);
        const axis = nodeAxis(node, shape.length);
        const outer = B * product(shape.slice(0, axis));
        const cols = shape[axis]!;
        const inner = product(shape.slice(axis + 1));
        pending.push({
          node: node.name, reads: [root(inName)], writes: [root(out)], cost: outer * cols * inner * 8, indirectionBytes: 0,
          build(at) {
            const src = at.tensor(inName);
            const dst = at.tensor(out);
            const channels = axis === shape.length - 1;
            return {
              kind: OpKind.Softmax, rows: outer, cols, inner, input: src.address, inStride: channels ? src.pixelStride : cols * inner * 4,
              out: dst.address, outStride: channels ? dst.pixelStride : cols * inner * 4, log: node.op === "logsoftmax",
            };
          },
        });
        break;
      }
      case "sigmoid": {
        const pixels = B * pixelsOf(inName);
        const C = channelsOf(inName);
        pending.push({
          node: node.name, reads: [root(inName)], writes: [root(out)], cost: pixels * C * 4, indirectionBytes: 0,
          build(at) {
            const src = at.tensor(inName);
            const dst = at.tensor(out);
            return {
              kind: OpKind.Sigmoid, pixels, C, input: src.address, inStride: src.pixelStride,
              out: dst.address, outStride: dst.pixelStride,
            };
          },
        });
        break;
      }
      case "batchnorm":
      case "relu": {
        const pixels = B * pixelsOf(inName);
        const C = channelsOf(inName);
        pending.push({
          node: node.name, reads: [root(inName)], writes: [root(out)], cost: pixels * C, indirectionBytes: 0,
          build(at) {
            const src = at.tensor(inName);
            const dst = at.tensor(out);
            const affine = node.op === "batchnorm" ? at.weights(node.name) : { weights: 0, bias: 0 };
            return {
              kind: OpKind.Affine, pixels, C, input: src.address, inStride: src.pixelStride,
              out: dst.address, outStride: dst.pixelStride, scale: affine.weights, shift: affine.bias,
              relu: node.op === "relu",
            };
          },
        });
        break;
      }
      case "concat": {
        if (!alongChannels(node)) {
          // Joining axis a of contiguous tensors: each input is B * (dims before a) runs of its
          // (dims from a) floats, copied at the output's run stride.
          const outShape = shapeOf(out);
          const axis = nodeAxis(node, outShape.length);
          const runs = B * product(outShape.slice(0, axis));
          const outRun = product(outShape.slice(axis)) * 4;
          let offset = 0;
          for (const input of node.inputs) {
            const run = product(shapeOf(input).slice(axis));
            const runOffset = offset;
            offset += run * 4;
            pending.push({
              node: node.name, reads: [root(input)], writes: [root(out)], cost: runs * run, indirectionBytes: 0,
              build(at) {
                return {
                  kind: OpKind.Affine, pixels: runs, C: run, input: at.tensor(input).address, inStride: run * 4,
                  out: at.tensor(out).address + runOffset, outStride: outRun, scale: 0, shift: 0, relu: false,
                };
              },
            });
          }
          break;
        }
        let offset = 0;
        for (const input of node.inputs) {
          const channelOffset = offset;
          offset += channelsOf(input) * 4;
          if (viewOf.get(input)?.concat === node.name) continue;
          const pixels = B * pixelsOf(input);
          const C = channelsOf(input);
          pending.push({
            node: node.name, reads: [root(input)], writes: [root(out)], cost: pixels * C, indirectionBytes: 0,
            build(at) {
              const src = at.tensor(input);
              const dst = at.tensor(out);
              return {
                kind: OpKind.Affine, pixels, C, input: src.address, inStride: src.pixelStride,
                out: dst.address + channelOffset, outStride: dst.pixelStride, scale: 0, shift: 0, relu: false,
              };
            },
          });
        }
        break;
      }
    }
  }

  // Lifetimes of root buffers, in step indices.
  const kept = new Set([...outputNames].map(root));
  const lifetimes = new Map<string, { first: number; last: number }>();
  const touch = (r: string, step: number) => {
    const l = lifetimes.get(r);
    if (l) {
      l.first = Math.min(l.first, step);
      l.last = Math.max(l.last, step);
    } else lifetimes.set(r, { first: step, last: step });
  };
  const inputNodes = graph.nodes.filter((n) => n.op === "input");
  for (const n of inputNodes) touch(root(n.name), 0);
  pending.forEach((s, i) => {
    for (const r of s.writes) touch(r, i);
    for (const r of s.reads) touch(r, i);
  });
  for (const r of kept) touch(r, pending.length);
  const roots = [...lifetimes.keys()];
  const arena = planArena(roots.map((r) => ({ size: bandsOf.get(r)?.bufferBytes ?? B * pixelsOf(r) * channelsOf(r) * 4, ...lifetimes.get(r)! })));

  // Region: steps | indirection buffers | zero row | thread scratch | arena.
  let bytes = alignUp(pending.length * OP_BYTES, REGION_ALIGN);
  const indirectionAt = pending.map((s) => {
    const at = bytes;
    bytes = alignUp(bytes + s.indirectionBytes, REGION_ALIGN);
    return at;
  });
  const zeroRowAt = bytes;
  bytes = alignUp(bytes + maxKc * 4, REGION_ALIGN);

  const scratchAt = bytes;
  bytes += opts.threads * scratchPerThread;
  const arenaAt = bytes;
  bytes += arena.size;
  const rootOffset = new Map(roots.map((r, i) => [r, arena.offsets[i]!]));

  return {
    bytes,
    arenaBytes: arena.size,
    materialize(memory, base, weightsBase) {
      new Uint8Array(memory, base + zeroRowAt, maxKc * 4).fill(0);
      const tensor = (name: string) => {
        const s = storage(name);
        return { ...s, address: base + arenaAt + rootOffset.get(s.root)! + s.offset };
      };
      const steps = pending.map((p, i) =>
        p.build({
          memory,
          tensor,
          weights(node) {
            const e = weights.entries.get(node)!;
            return {
              weights: weightsBase + e.weights, bias: weightsBase + e.bias,
              scales: e.scales === undefined ? undefined : weightsBase + e.scales,
            };
          },
          indirection: base + indirectionAt[i]!,
          zeroRow: base + zeroRowAt,
          scratch: base + scratchAt,
          scratchStride: scratchPerThread,
        }),
      );
      encodeSteps(memory, base, steps);
      const bind = (name: string): BoundTensor => {
        const t = tensor(name);
        return { name, shape: shapeOf(name), address: t.address, pixelStride: t.pixelStride, pixels: pixelsOf(name), channels: channelsOf(name) };
      };
      return {
        batch: B,
        ops: base,
        steps: steps.length,
        costs: pending.map((p) => p.cost),
        stepNodes: pending.map((p) => p.node),
        inputs: inputNodes.map((n) => bind(n.name)),
        outputs: new Map([...graph.outputs, ...opts.outputs].map((n) => [n, bind(n)])),
      };
    },
  };
}
