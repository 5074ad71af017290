/**
 * Image preprocessing: PNG / JPEG decoding, crop, resize and normalisation
 * into the float tensor the model takes. Pure JS (fast-png, jpeg-js) with no
 * Node built-ins, so it runs unchanged in Node, Deno, Bun, workerd and browsers.
 */
export type { Normalization } from "../graph/ir.js";
export { decodeImage, loadImageDecoders } from "./decode.js";
export { centralCrop, toRGB } from "./image.js";
export type { DecodedImage } from "./image.js";
export { normalize } from "./normalize.js";
export { preprocess } from "./preprocess.js";
export type { PreprocessOptions } from "./preprocess.js";
export { resizeBilinear } from "./resize.js";
