/**
 * Row bands of a convolution whose only reader is a max pool: per image, the
 * convolution computes a band of its output rows into a small band buffer
 * and the pool reduces them into its own output, band after band, so the
 * convolution's whole output never exists (plan.ts emits the steps). In
 * InceptionV3 the stem's two convolution + max pool pairs set the arena's
 * peak: a 147x147x64 output (5.3 MiB per image) written while its 2.6 MiB
 * input was alive.
 *
 * A pool row reads `span` convolution rows, `stride` rows after the previous
 * pool row's, so neighbouring bands share rows: the next band's pool rows
 * also read the last rows of this band. Those are carried: copied from the
 * bottom of the band buffer to its top, and the next band's convolution
 * writes below them. Recomputing them instead would cost a whole Winograd
 * tile row per band, since a band must start on the unbanded tile grid to
 * keep its arithmetic (16-22% more work in the two stem convolutions).
 */

/**
 * Target size of a band buffer: well under the stem tensors alive beside it
 * (2.6 MiB and up per image), and about one L2 (1 MB on the target cores),
 * where the pool finds the rows the convolution has just written.
 */
const BAND_BYTES = 1 << 20;

/**
 * Work units every band's convolution step gives each thread at least:
 * threads claim units until none is left, so a step of few units leaves
 * threads idle at its end, once per band.
 */
const MIN_UNITS_PER_THREAD = 4;

export interface RowBand {
  /** Convolution output rows this band computes: [convFrom, convTo). */
  convFrom: number;
  convTo: number;
  /**
   * Rows before convFrom its pool rows read, carried from the previous band:
   * they fill the top of the band buffer and the band's rows follow them.
   */
  carry: number;
  /** Band buffer row where the carried rows were in the previous band (0 without carry). */
  carrySource: number;
  /** Pool output rows it produces: [poolFrom, poolTo). */
  poolFrom: number;
  poolTo: number;
}

export interface RowBands {
  bands: RowBand[];
  /** Bytes of the band buffer: the largest band with its carried rows. */
  bufferBytes: number;
}

export interface BandedPair {
  /** Output rows of the convolution, and bytes per row. */
  convRows: number;
  rowBytes: number;
  /** Convolution rows per tile (Winograd's m): bands start on the tile grid. */
  tile: number;
  /** Output rows of the pool; rows its window spans and rows between windows (no padding above or below). */
  poolRows: number;
  span: number;
  stride: number;
  threads: number;
  /** Work units of a convolution step over `tileRows` rows of tiles. */
  units(tileRows: number): number;
}

/**
 * The bands of one image, or null when banding would not pay: when the band
 * buffer would hold more than half the convolution's output (small images,
 * or many threads asking for tall bands), too little is saved for 2-3 steps
 * per band in place of 2. Bands start on multiples of `tile`, so each band's
 * tiles are the unbanded plan's tiles and its results equal the unbanded
 * ones bit for bit.
 */
export function rowBands(pair: BandedPair): RowBands | null {
  const { convRows, rowBytes, tile, poolRows, span, stride } = pair;
  // A stride past the span would skip rows, which the carry does not handle.
  if (stride > span) return null;
  // Rows the pool reads; the convolution computes no others.
  const needed = stride * (poolRows - 1) + span;
  const tileRows = Math.ceil(needed / tile);
  // Up to span - 1 rows are carried; they are copied without overlap when a band has twice that.
  let bandTiles = Math.max(1, Math.ceil((2 * (span - 1)) / tile), Math.floor((BAND_BYTES / rowBytes - (span - 1)) / tile));
  while (bandTiles < tileRows && pair.units(bandTiles) < MIN_UNITS_PER_THREAD * pair.threads) bandTiles++;
  if (bandTiles >= tileRows) return null;

  const bands: RowBand[] = [];
  let bufferRows = 0;
  for (let convFrom = 0; convFrom < needed; convFrom += bandTiles * tile) {
    const convTo = Math.min(needed, convFrom + bandTiles * tile);
    const previous = bands.at(-1);
    const poolFrom = previous ? previous.poolTo : 0;
    // Pool rows whose last row is in this band or before.
    const poolTo = convTo === needed ? poolRows : Math.floor((convTo - span) / stride) + 1;
    const carry = convFrom - stride * poolFrom;
    const carrySource = previous ? convFrom - carry - (previous.convFrom - previous.carry) : 0;
    bands.push({ convFrom, convTo, carry, carrySource, poolFrom, poolTo });
    bufferRows = Math.max(bufferRows, carry + convTo - convFrom);
  }
  if (2 * bufferRows > convRows) return null;
  return { bands, bufferBytes: bufferRows * rowBytes };
}
