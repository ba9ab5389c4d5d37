/**
 * The little of the protobuf wire format CRIU's images need: varints,
 * length-delimited fields (nested messages, strings) and skipping the rest.
 * Every read is bounds-checked; a short buffer throws, never reads garbage.
 */
export class WireError extends Error {
  override name = 'WireError';
}

export interface Field {
  no: number;
  wire: number;
  /** varint value (wire 0), or the fixed value for wire 1/5 */
  value?: bigint;
  /** payload for wire 2 */
  bytes?: Uint8Array;
}

export function* fields(buf: Uint8Array): Generator<Field> {
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new WireError(`truncated varint at byte ${pos}`);
      const b = buf[pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
      shift += 7n;
      if (shift > 63n) throw new WireError(`varint longer than 10 bytes at byte ${pos}`);
    }
  };
  const take = (n: number): Uint8Array => {
    if (n < 0 || pos + n > buf.length) throw new WireError(`field of ${n} bytes at byte ${pos} runs past the end (${buf.length})`);
    const out = buf.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  while (pos < buf.length) {
    const key = varint();
    const no = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (no === 0) throw new WireError(`field number 0 at byte ${pos}`);
    if (wire === 0) yield { no, wire, value: varint() };
    else if (wire === 2) yield { no, wire, bytes: take(Number(varint())) };
    else if (wire === 1) yield { no, wire, value: new DataView(take(8).slice().buffer).getBigUint64(0, true) };
    else if (wire === 5) yield { no, wire, value: BigInt(new DataView(take(4).slice().buffer).getUint32(0, true)) };
    else throw new WireError(`unsupported wire type ${wire} for field ${no}`);
  }
}

/** A varint as a number; CRIU's counters fit well within 2^53. */
export function num(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new WireError(`value ${v} does not fit a number`);
  return Number(v);
}
