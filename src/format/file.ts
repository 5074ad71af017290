/**
 * Random access to the bytes of an .iwm file wherever they are: bytes in
 * memory here, a file on disk in a platform layer (src/platform/node-source.ts),
 * so a loader reads the weight region straight into wasm memory without
 * holding the whole file.
 */
export interface IwmFile {
  /** Names the file in error messages. */
  readonly name: string;
  readonly size: number;
  /** Fills `into` with the bytes from `offset` on; callers keep `offset + into.length <= size`. */
  read(offset: number, into: Uint8Array): Promise<void>;
  /** Releases what reading holds (an open file); reading again reopens. */
  close(): Promise<void>;
}

export function iwmBytes(bytes: Uint8Array, name = "IWM model bytes"): IwmFile {
  return {
    name,
    size: bytes.length,
    read: async (offset, into) => into.set(bytes.subarray(offset, offset + into.length)),
    close: async () => undefined,
  };
}
