/**
 * Reads the Keras model JSON that tfjs layers models carry as
 * `modelTopology` into a flat, validated list of single-call layers.
 *
 * Forms accepted:
 * - `{ class_name, config }` directly (tfjs-layers `model.save`), or wrapped as
 *   `{ keras_version, backend, model_config: { class_name, config } }`
 *   (tfjs converter from Keras .h5);
 * - functional models (`Model` / `Functional`) whose `inbound_nodes` use the
 *   Keras 2 nested lists `[[["name", 0, 0, {}], ...]]` or the Keras 3 dicts
 *   `[{ args: [<__keras_tensor__ with keras_history>], kwargs }]`;
 * - `Sequential` with `config.layers` (or, in old Keras, `config` itself a list).
 */

export interface KerasLayer {
  name: string;
  className: string;
  config: Record<string, unknown>;
  /** Names of the layers whose output this layer reads, in call order. */
  inputs: string[];
}

export interface KerasModel {
  /** Layers in topological order. */
  layers: KerasLayer[];
  /** Names of the input layers. */
  inputs: string[];
  /** Names of the layers whose outputs are the model outputs. */
  outputs: string[];
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function parseKerasTopology(topology: unknown, source: string): KerasModel {
  const fail = (message: string): never => {
    throw new Error(`${source}: ${message}`);
  };
  if (!isObject(topology)) fail("modelTopology must be a JSON object");
  const root = topology as Json;
  const model = isObject(root.model_config) ? root.model_config : root;
  const className = model.class_name;
  if (className === "Sequential") return parseSequential(model.config, fail);
  if (className === "Model" || className === "Functional") return parseFunctional(model.config, fail);
  return fail(
    `unsupported model class ${JSON.stringify(className)} (expected Sequential, Model or Functional)`,
  );
}

/** A layer entry's name and config; functional entries repeat the name outside the config. */
function layerHeader(entry: unknown, fail: (m: string) => never): Omit<KerasLayer, "inputs"> {
  if (!isObject(entry) || typeof entry.class_name !== "string" || !isObject(entry.config)) {
    fail(`malformed layer entry ${JSON.stringify(entry)?.slice(0, 200)}`);
  }
  const { class_name, config } = entry as { class_name: string; config: Json };
  const name = typeof entry.name === "string" ? entry.name : config.name;
  if (typeof name !== "string" || name === "") fail(`layer of class ${class_name} has no name`);
  return { name: name as string, className: class_name, config };
}

function parseSequential(config: unknown, fail: (m: string) => never): KerasModel {
  const entries = Array.isArray(config) ? config : isObject(config) ? config.layers : undefined;
  if (!Array.isArray(entries) || entries.length === 0) fail("Sequential model has no layers");
  const headers = (entries as unknown[]).map((e) => layerHeader(e, fail));
  const layers: KerasLayer[] = [];
  const first = headers[0];
  if (first.className !== "InputLayer") {
    // Keras puts the input shape on the first layer; it implies an input
    // layer, which Keras and tfjs both name `<first>_input`.
    const shape = first.config.batch_input_shape ?? first.config.batch_shape;
    if (shape === undefined) fail(`Sequential model: first layer ${first.name} has no batch_input_shape`);
    layers.push({
      name: `${first.name}_input`,
      className: "InputLayer",
      config: { batch_input_shape: shape },
      inputs: [],
    });
  }
  for (const header of headers) {
    const previous = layers[layers.length - 1];
    layers.push({ ...header, inputs: previous ? [previous.name] : [] });
  }
  checkUniqueNames(layers, fail);
  return { layers, inputs: [layers[0].name], outputs: [layers[layers.length - 1].name] };
}

/** A reference to the output of a layer call: [layerName, nodeIndex, tensorIndex]. */
function isTensorRef(value: unknown): value is [string, number, number, ...unknown[]] {
  return Array.isArray(value) && value.length >= 3 && typeof value[0] === "string" && typeof value[1] === "number" && typeof value[2] === "number";
}

/**
 * Every layer is called once and has one output, so a reference must be to
 * call 0, output 0; anything else means shared layers or multi-output layers.
 */
function refName(ref: [string, number, number, ...unknown[]], where: string, fail: (m: string) => never): string {
  if (ref[1] !== 0 || ref[2] !== 0) {
    fail(`${where} reads output ${ref[2]} of call ${ref[1]} of layer ${ref[0]}; only single-call, single-output layers are supported`);
  }
  return ref[0];
}

/** Tensor references in `value`, depth first: Keras 2 triples and Keras 3 `__keras_tensor__` objects. */
function collectRefs(value: unknown, out: [string, number, number][]): void {
  if (isTensorRef(value)) {
    out.push([value[0], value[1], value[2]]);
  } else if (Array.isArray(value)) {
    for (const item of value) collectRefs(item, out);
  } else if (isObject(value)) {
    if (value.class_name === "__keras_tensor__" && isObject(value.config) && isTensorRef(value.config.keras_history)) {
      const [name, node, tensor] = value.config.keras_history;
      out.push([name, node, tensor]);
    } else {
      for (const item of Object.values(value)) collectRefs(item, out);
    }
  }
}

function inboundLayers(layer: Omit<KerasLayer, "inputs">, inbound: unknown, fail: (m: string) => never): string[] {
  const where = `layer ${layer.name} (${layer.className})`;
  if (inbound === undefined || (Array.isArray(inbound) && inbound.length === 0)) return [];
  if (!Array.isArray(inbound)) fail(`${where}: inbound_nodes must be a list`);
  const calls = inbound as unknown[];
  if (calls.length > 1) fail(`${where} is called ${calls.length} times; shared layers are not supported`);
  const call = calls[0];
  const refs: [string, number, number][] = [];
  // Keras 3 records positional tensors under `args`; its kwargs hold call
  // options (training flags, masks) that do not feed the layer's data path.
  collectRefs(isObject(call) && "args" in call ? call.args : call, refs);
  return refs.map((ref) => refName(ref, where, fail));
}

function parseFunctional(config: unknown, fail: (m: string) => never): KerasModel {
  if (!isObject(config) || !Array.isArray(config.layers)) fail("functional model config has no layers list");
  const cfg = config as Json & { layers: unknown[] };
  const unordered = cfg.layers.map((entry) => {
    const header = layerHeader(entry, fail);
    return { ...header, inputs: inboundLayers(header, (entry as Json).inbound_nodes, fail) };
  });
  checkUniqueNames(unordered, fail);
  const layers = topologicalOrder(unordered, fail);
  const byName = new Map(layers.map((l) => [l.name, l]));

  const endpoints = (key: string): string[] => {
    const refs: [string, number, number][] = [];
    collectRefs(cfg[key], refs);
    if (refs.length === 0) fail(`functional model config has no ${key}`);
    return refs.map((ref) => {
      const name = refName(ref, key, fail);
      if (!byName.has(name)) fail(`${key} names layer ${name}, which is not in the model`);
      return name;
    });
  };
  const inputs = endpoints("input_layers");
  for (const name of inputs) {
    if (byName.get(name)!.className !== "InputLayer") fail(`input_layers names ${name}, which is not an InputLayer`);
  }
  return { layers, inputs, outputs: endpoints("output_layers") };
}

function checkUniqueNames(layers: readonly KerasLayer[], fail: (m: string) => never): void {
  const seen = new Set<string>();
  for (const layer of layers) {
    if (seen.has(layer.name)) fail(`two layers are named ${layer.name}`);
    seen.add(layer.name);
  }
}

/**
 * Keras lists functional layers in a valid order in practice but does not
 * promise it (its loader retries until inputs exist), so order explicitly:
 * depth first from each layer in file order, which keeps file order whenever
 * it is already valid.
 */
function topologicalOrder(layers: readonly KerasLayer[], fail: (m: string) => never): KerasLayer[] {
  const byName = new Map(layers.map((l) => [l.name, l]));
  const state = new Map<string, "visiting" | "done">();
  const ordered: KerasLayer[] = [];
  const visit = (layer: KerasLayer): void => {
    const seen = state.get(layer.name);
    if (seen === "done") return;
    if (seen === "visiting") fail(`layers form a cycle through ${layer.name}`);
    state.set(layer.name, "visiting");
    for (const input of layer.inputs) {
      const producer = byName.get(input);
      if (!producer) fail(`layer ${layer.name} (${layer.className}) reads layer ${input}, which is not in the model`);
      visit(producer!);
    }
    state.set(layer.name, "done");
    ordered.push(layer);
  };
  for (const layer of layers) visit(layer);
  return ordered;
}
