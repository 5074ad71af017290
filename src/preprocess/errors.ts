/**
 * Error construction and the size limits shared by the decoders.
 *
 * Every message names the image when the caller gave a name, so a failure in
 * a batch of files points at the file that caused it.
 */

/**
 * Largest image we agree to decode, in pixels. A header is only a few bytes,
 * so without a cap a hostile file could make the decoder allocate gigabytes.
 * 50 MP (e.g. 8660x5773) covers phone and most camera photos while keeping
 * decoder memory to a few hundred MB for 8-bit images and about 1.5 GB in the
 * worst case (16-bit RGBA PNG, which fast-png holds several copies of).
 */
export const MAX_PIXELS = 50_000_000;

/** How an error message refers to the image: `image "cat.png"` or just `image`. */
function subject(name: string | undefined): string {
  return name === undefined || name === "" ? "image" : `image ${JSON.stringify(name)}`;
}

/** The message of whatever a third-party decoder threw, which need not be an Error. */
export function describeThrown(thrown: unknown): string {
  if (!(thrown instanceof Error)) return String(thrown);
  const cause = thrown.cause instanceof Error ? ` (${thrown.cause.message})` : "";
  return `${thrown.message}${cause}`;
}

/** What a wrongly typed argument was, for messages: "null", "42", "Array", "Float32Array"… */
export function describeValue(value: unknown): string {
  return value === null || typeof value !== "object" ? String(value) : (value.constructor?.name ?? "object");
}

/** `Cannot decode image "cat.png": <problem>`, keeping the decoder's exception as `cause`. */
export function decodeError(name: string | undefined, problem: string, cause?: unknown): Error {
  return new Error(`Cannot decode ${subject(name)}: ${problem}`, cause === undefined ? undefined : { cause });
}

/** `Invalid image "cat.png": <problem>`, for in-memory images and arguments that do not make sense. */
export function invalidImageError(name: string | undefined, problem: string): Error {
  return new Error(`Invalid ${subject(name)}: ${problem}`);
}

/** Rejects zero-size images and images above MAX_PIXELS before anything is allocated for them. */
export function checkDecodeDimensions(name: string | undefined, format: string, width: number, height: number): void {
  if (width === 0 || height === 0) {
    throw decodeError(name, `the ${format} has zero size (${width}x${height})`);
  }
  if (width * height > MAX_PIXELS) {
    const mp = ((width * height) / 1e6).toFixed(1);
    throw decodeError(
      name,
      `the ${format} is too large (${width}x${height} = ${mp} megapixels; the limit is ${MAX_PIXELS / 1e6} megapixels)`,
    );
  }
}
