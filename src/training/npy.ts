// Writes NumPy .npy files (format 1.0) that the trainer memory-maps. Only what Trainyard needs:
// little-endian float32 and int64, C order.
import { open } from 'node:fs/promises';

export type NpyDtype = '<f4' | '<i8';

export function npyHeader(dtype: NpyDtype, shape: number[]): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // Magic (6) + version (2) + header length (2) + dict + '\n' must be a multiple of 64 bytes.
  const unpadded = 10 + dict.length + 1;
  dict += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const header = Buffer.alloc(10 + dict.length);
  header.write('\x93NUMPY', 0, 'latin1');
  header[6] = 1;
  header[7] = 0;
  header.writeUInt16LE(dict.length, 8);
  header.write(dict, 10, 'latin1');
  return header;
}

export async function writeNpy(path: string, dtype: NpyDtype, shape: number[], data: Float32Array | BigInt64Array): Promise<void> {
  const file = await open(path, 'w');
  try {
    await file.write(npyHeader(dtype, shape));
    await file.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  } finally {
    await file.close();
  }
}

/** Reads a float32 .npy written by the trainer (reference outputs). */
export function readFloat32Npy(bytes: Buffer): { shape: number[]; data: Float32Array } {
  if (bytes.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error('not an .npy file');
  const major = bytes[6];
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const offset = (major === 1 ? 10 : 12) + headerLength;
  const header = bytes.toString('latin1', major === 1 ? 10 : 12, offset);
  if (!header.includes("'<f4'")) throw new Error(`expected float32 .npy, header ${header}`);
  const shapeMatch = /'shape': \(([^)]*)\)/.exec(header);
  const shape = (shapeMatch?.[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const copy = Buffer.from(bytes.subarray(offset));
  return { shape, data: new Float32Array(copy.buffer, copy.byteOffset, copy.byteLength / 4) };
}
