import type { Normalization } from "../graph/ir.js";

/** ImageNet channel statistics used by torchvision models, on the [0, 1] scale. */
const TORCH_MEAN = [0.485, 0.456, 0.406] as const;
const TORCH_STD = [0.229, 0.224, 0.225] as const;

/**
 * Maps RGB pixels in [0, 255] (HWC, as resizeBilinear returns them) to what a
 * model was trained on, into a new array:
 * - "tf": x / 127.5 - 1, i.e. [-1, 1] (Keras / TF-slim Inception)
 * - "unit": x / 255, i.e. [0, 1]
 * - "torch": (x / 255 - mean[c]) / std[c] with ImageNet mean and std
 */
export function normalize(pixels: Float32Array, preset: Normalization): Float32Array {
  if (!(pixels instanceof Float32Array)) {
    throw new Error("normalize: pixels must be a Float32Array");
  }
  const out = new Float32Array(pixels.length);
  switch (preset) {
    case "tf":
      for (let i = 0; i < pixels.length; i++) out[i] = pixels[i]! / 127.5 - 1;
      return out;
    case "unit":
      for (let i = 0; i < pixels.length; i++) out[i] = pixels[i]! / 255;
      return out;
    case "torch": {
      if (pixels.length % 3 !== 0) {
        throw new Error(`normalize: "torch" needs RGB triples, but got ${pixels.length} values (not a multiple of 3)`);
      }
      for (let i = 0; i < pixels.length; i += 3) {
        for (let c = 0; c < 3; c++) out[i + c] = (pixels[i + c]! / 255 - TORCH_MEAN[c]!) / TORCH_STD[c]!;
      }
      return out;
    }
    default:
      throw new Error(`normalize: unknown preset ${JSON.stringify(preset)}; expected "tf", "unit" or "torch"`);
  }
}
