/**
 * Types for jpeg-js's decoder module, imported on its own so bundles leave
 * out jpeg-js's encoder (unused here, and written against Node's Buffer).
 * Mirrors the `useTArray: true` overload of jpeg-js's index.d.ts.
 */
declare module "jpeg-js/lib/decoder.js" {
  export default function decode(
    jpegData: Uint8Array,
    opts: {
      useTArray: true;
      colorTransform?: boolean;
      formatAsRGBA?: boolean;
      tolerantDecoding?: boolean;
      maxResolutionInMP?: number;
      maxMemoryUsageInMB?: number;
    },
  ): { width: number; height: number; data: Uint8Array; comments?: string[] };
}
