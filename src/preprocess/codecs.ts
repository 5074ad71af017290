// The image codecs decode.ts imports on first use (their libraries are heavy to load).
export { decodeJpeg } from "./jpeg.js";
export { decodePng } from "./png.js";
