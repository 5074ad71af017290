import type { Graph, Normalization } from "../graph/ir.js";
import { loadImageDecoders, preprocess, type DecodedImage } from "../preprocess/index.js";
import type { KernelBuild } from "../runtime/engine.js";
import type { Session, TensorData } from "../runtime/session.js";

/** Encoded image bytes (PNG, JPEG) or decoded pixels. */
export type ImageInput = Uint8Array | ArrayBuffer | DecodedImage;

export interface Prediction {
  index: number;
  label: string;
  probability: number;
}

export interface TensorInfo {
  name: string;
  /** [-1 for the batch, ...per-sample shape] */
  shape: number[];
}

export interface ClassifyOptions {
  /** How many classes to return, most probable first (default 5). */
  topK?: number;
}

export interface ModelDescription {
  session: Session;
  labels: readonly string[] | undefined;
  normalization: Normalization;
  /** Central crop fraction applied before resizing, if any. */
  crop: number | undefined;
  /** Where the model came from, for messages. */
  source: string;
}

/**
 * A loaded model. Methods may be called concurrently; runs are queued.
 * Nothing passed in is modified.
 */
export class Model {
  readonly inputs: TensorInfo[];
  readonly outputs: TensorInfo[];
  readonly labels: readonly string[] | undefined;
  readonly normalization: Normalization;
  readonly source: string;
  private readonly session: Session;
  private readonly crop: number | undefined;
  private disposed = false;

  constructor(d: ModelDescription) {
    this.session = d.session;
    this.labels = d.labels;
    this.normalization = d.normalization;
    this.crop = d.crop;
    this.source = d.source;
    const graph = d.session.graph;
    this.inputs = graph.nodes.filter((n) => n.op === "input").map((n) => ({ name: n.name, shape: [-1, ...this.shape(n.name)] }));
    this.outputs = graph.outputs.map((name) => ({ name, shape: [-1, ...this.shape(name)] }));
  }

  /** Threads the kernels run on: the caller's thread (in slices) and threads - 1 workers. */
  get threads(): number {
    return this.session.engine.threads;
  }

  /** The kernel build in use. */
  get build(): KernelBuild {
    return this.session.engine.build;
  }

  /** Bytes of wasm memory the model holds (weights, plans, activations). */
  get memoryBytes(): number {
    return this.session.engine.bytesUsed;
  }

  /** Architectural blocks (stem, mixed0…mixed10, head) and the tensors ending them, when known. */
  get blocks(): readonly { name: string; tensor: string }[] {
    return this.graph.metadata.blocks ?? [];
  }

  private get graph(): Graph {
    return this.session.graph;
  }

  private shape(name: string): number[] {
    return this.session.shapes.get(name)!;
  }

  private checkLive(): void {
    if (this.disposed) throw new Error("this model was disposed");
  }

  /** Runs raw tensors: `feeds[name] = { data, dims: [N, H, W, C] }`; returns outputs by name. */
  async run(feeds: Record<string, TensorData>, opts?: { outputs?: string[] }): Promise<Record<string, TensorData>> {
    this.checkLive();
    const { inputs, batch } = this.checkFeeds(feeds);
    const names = opts?.outputs ?? this.graph.outputs;
    for (const name of names) {
      if (!this.session.shapes.has(name)) {
        throw new Error(`unknown output ${JSON.stringify(name)}; the model has ${this.outputs.map((o) => o.name).join(", ")} (intermediate tensors must be kept at load: loadModel(…, { keep: [${JSON.stringify(name)}] }))`);
      }
    }
    const out = await this.session.run(inputs, batch, names);
    return Object.fromEntries(out);
  }

  private checkFeeds(feeds: Record<string, TensorData>): { inputs: Map<string, Float32Array>; batch: number } {
    if (typeof feeds !== "object" || feeds === null) throw new Error("run() takes an object mapping input names to { data, dims }");
    const known = new Set(this.inputs.map((i) => i.name));
    for (const name of Object.keys(feeds)) {
      if (!known.has(name)) throw new Error(`unknown input ${JSON.stringify(name)}; the model's inputs are ${[...known].join(", ")}`);
    }
    const inputs = new Map<string, Float32Array>();
    let batch = 0;
    for (const info of this.inputs) {
      const feed = feeds[info.name];
      const want = `[N, ${info.shape.slice(1).join(", ")}]`;
      if (!feed) throw new Error(`missing input ${JSON.stringify(info.name)} (float32 ${want})`);
      if (!(feed.data instanceof Float32Array)) throw new Error(`input ${info.name}: data must be a Float32Array`);
      const dims = feed.dims;
      if (!Array.isArray(dims) || dims.length !== info.shape.length || dims.slice(1).some((d, i) => d !== info.shape[i + 1])
        || !Number.isInteger(dims[0]) || dims[0]! < 1) {
        throw new Error(`input ${info.name}: dims ${JSON.stringify(dims)} do not match ${want} with N ≥ 1`);
      }
      if (batch && dims[0] !== batch) throw new Error(`input ${info.name}: batch ${dims[0]} differs from the other inputs' ${batch}`);
      batch = dims[0]!;
      const size = dims.reduce((a, b) => a * b, 1);
      if (feed.data.length !== size) {
        throw new Error(`input ${info.name}: data has ${feed.data.length} values, dims ${JSON.stringify(dims)} need ${size}`);
      }
      inputs.set(info.name, feed.data);
    }
    return { inputs, batch };
  }

  /** Decodes, resizes and normalizes images into one [N, H, W, C] input tensor. */
  private async prepare(images: readonly ImageInput[]): Promise<TensorData> {
    await loadImageDecoders();
    if (this.inputs.length !== 1) throw new Error(`the model has ${this.inputs.length} inputs; use run()`);
    const [, H, W, C] = this.inputs[0]!.shape;
    if (H !== W || C !== 3) throw new Error(`the model input ${JSON.stringify(this.inputs[0]!.shape)} is not a square RGB image; use run()`);
    const per = H! * W! * 3;
    const data = new Float32Array(images.length * per);
    images.forEach((img, i) => {
      const bytes = img instanceof ArrayBuffer ? new Uint8Array(img) : img;
      // Errors then read `Cannot decode image: …` or, in a batch, `Cannot decode image "#2": …`.
      const name = images.length > 1 ? `#${i}` : undefined;
      data.set(preprocess(bytes, { size: H!, crop: this.crop, normalization: this.normalization }, name), i * per);
    });
    return { data, dims: [images.length, H!, W!, 3] };
  }

  /**
   * Top-k classes of one image (or of each image of an array, batched in one run).
   * Probabilities: the model's softmax or sigmoid (multi-label) output as it
   * is, exp of a log-softmax output, or a softmax of plain logits.
   */
  classify(image: ImageInput, opts?: ClassifyOptions): Promise<Prediction[]>;
  classify(images: readonly ImageInput[], opts?: ClassifyOptions): Promise<Prediction[][]>;
  async classify(images: ImageInput | readonly ImageInput[], opts?: ClassifyOptions): Promise<Prediction[] | Prediction[][]> {
    this.checkLive();
    const list = Array.isArray(images) ? (images as readonly ImageInput[]) : [images as ImageInput];
    if (list.length === 0) throw new Error("classify() got an empty list of images");
    const topK = opts?.topK ?? 5;
    if (!Number.isInteger(topK) || topK < 1) throw new Error(`topK must be a positive integer, got ${topK}`);
    const input = await this.prepare(list);
    const outName = this.graph.outputs[0]!;
    const out = (await this.session.run(new Map([[this.inputs[0]!.name, input.data]]), list.length, [outName])).get(outName)!;
    const classes = out.data.length / list.length;
    const outOp = this.graph.nodes.find((n) => n.name === outName)?.op;
    const results = list.map((_, i) => {
      let p = out.data.subarray(i * classes, (i + 1) * classes);
      if (outOp === "logsoftmax") p = p.map(Math.exp);
      else if (outOp !== "softmax" && outOp !== "sigmoid") p = softmax(p);
      return topk(p, topK).map((index) => ({ index, label: this.labels?.[index] ?? `class ${index}`, probability: p[index]! }));
    });
    return Array.isArray(images) ? results : results[0]!;
  }

  /** Global-pool features (2048-d for Inception v3) of one image, or of each image of an array. */
  embed(image: ImageInput): Promise<Float32Array>;
  embed(images: readonly ImageInput[]): Promise<Float32Array[]>;
  async embed(images: ImageInput | readonly ImageInput[]): Promise<Float32Array | Float32Array[]> {
    this.checkLive();
    const tensor = this.graph.metadata.embedding;
    if (!tensor) throw new Error(`${this.source} has no known global-pool tensor to embed from`);
    const list = Array.isArray(images) ? (images as readonly ImageInput[]) : [images as ImageInput];
    if (list.length === 0) throw new Error("embed() got an empty list of images");
    const input = await this.prepare(list);
    const out = (await this.session.run(new Map([[this.inputs[0]!.name, input.data]]), list.length, [tensor])).get(tensor)!;
    const size = out.data.length / list.length;
    const results = list.map((_, i) => out.data.slice(i * size, (i + 1) * size));
    return Array.isArray(images) ? results : results[0]!;
  }

  /** Stops the workers and releases the wasm memory (once the caller drops the model). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.session.dispose();
  }
}

function softmax(x: Float32Array): Float32Array {
  let m = -Infinity;
  for (const v of x) m = Math.max(m, v);
  const e = x.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function topk(p: Float32Array, k: number): number[] {
  return [...p.keys()].sort((a, b) => p[b]! - p[a]! || a - b).slice(0, Math.min(k, p.length));
}
