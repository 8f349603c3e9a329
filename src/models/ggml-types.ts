// ggml tensor types and llama.cpp file types (`general.file_type`) as GGUF files number them. Sizes
// are per block; a type without a size here is one this runtime cannot account for, so it is refused.

export interface GgmlType {
  name: string;
  /** Elements per block; a tensor's first dimension must be a multiple of it. */
  blockSize: number;
  /** Bytes per block. */
  typeSize: number;
}

// Index = type id. null marks ids that llama.cpp retired (Q4_2, Q4_3, the repacked Q4_0_x_y and
// IQ4_NL_x_y layouts) or newer ids whose block layout this table does not know yet.
const TYPES: (GgmlType | null)[] = [
  { name: "F32", blockSize: 1, typeSize: 4 },
  { name: "F16", blockSize: 1, typeSize: 2 },
  { name: "Q4_0", blockSize: 32, typeSize: 18 },
  { name: "Q4_1", blockSize: 32, typeSize: 20 },
  null,
  null,
  { name: "Q5_0", blockSize: 32, typeSize: 22 },
  { name: "Q5_1", blockSize: 32, typeSize: 24 },
  { name: "Q8_0", blockSize: 32, typeSize: 34 },
  { name: "Q8_1", blockSize: 32, typeSize: 36 },
  { name: "Q2_K", blockSize: 256, typeSize: 84 },
  { name: "Q3_K", blockSize: 256, typeSize: 110 },
  { name: "Q4_K", blockSize: 256, typeSize: 144 },
  { name: "Q5_K", blockSize: 256, typeSize: 176 },
  { name: "Q6_K", blockSize: 256, typeSize: 210 },
  { name: "Q8_K", blockSize: 256, typeSize: 292 },
  { name: "IQ2_XXS", blockSize: 256, typeSize: 66 },
  { name: "IQ2_XS", blockSize: 256, typeSize: 74 },
  { name: "IQ3_XXS", blockSize: 256, typeSize: 98 },
  { name: "IQ1_S", blockSize: 256, typeSize: 50 },
  { name: "IQ4_NL", blockSize: 32, typeSize: 18 },
  { name: "IQ3_S", blockSize: 256, typeSize: 110 },
  { name: "IQ2_S", blockSize: 256, typeSize: 82 },
  { name: "IQ4_XS", blockSize: 256, typeSize: 136 },
  { name: "I8", blockSize: 1, typeSize: 1 },
  { name: "I16", blockSize: 1, typeSize: 2 },
  { name: "I32", blockSize: 1, typeSize: 4 },
  { name: "I64", blockSize: 1, typeSize: 8 },
  { name: "F64", blockSize: 1, typeSize: 8 },
  { name: "IQ1_M", blockSize: 256, typeSize: 56 },
  { name: "BF16", blockSize: 1, typeSize: 2 },
  null,
  null,
  null,
  { name: "TQ1_0", blockSize: 256, typeSize: 54 },
  { name: "TQ2_0", blockSize: 256, typeSize: 66 },
  null,
  null,
  null,
  { name: "MXFP4", blockSize: 32, typeSize: 17 },
];

/** The type for an id, or null when it is unknown or retired. */
export function ggmlType(id: number): GgmlType | null {
  return TYPES[id] ?? null;
}

/** The id for a type name ("Q4_K"); throws on a name that is not in the table (writers and tests only). */
export function ggmlTypeId(name: string): number {
  const id = TYPES.findIndex((t) => t?.name === name);
  if (id < 0) throw new Error(`unknown ggml type ${name}`);
  return id;
}

// llama_ftype, the whole-file quantization label that quantize tools write.
const FILE_TYPES = [
  "F32",
  "F16",
  "Q4_0",
  "Q4_1",
  "Q4_1_SOME_F16",
  "Q4_2",
  "Q4_3",
  "Q8_0",
  "Q5_0",
  "Q5_1",
  "Q2_K",
  "Q3_K_S",
  "Q3_K_M",
  "Q3_K_L",
  "Q4_K_S",
  "Q4_K_M",
  "Q5_K_S",
  "Q5_K_M",
  "Q6_K",
  "IQ2_XXS",
  "IQ2_XS",
  "Q2_K_S",
  "IQ3_XS",
  "IQ3_XXS",
  "IQ1_S",
  "IQ4_NL",
  "IQ3_S",
  "IQ3_M",
  "IQ2_S",
  "IQ2_M",
  "IQ4_XS",
  "IQ1_M",
  "BF16",
  "Q4_0_4_4",
  "Q4_0_4_8",
  "Q4_0_8_8",
  "TQ1_0",
  "TQ2_0",
  "MXFP4_MOE",
  "NVFP4",
  "Q1_0",
  "Q2_0",
];

/** "Q4_K_M" for 15; an id newer than this table reads as "FILE_TYPE_<id>" rather than failing. */
export function fileTypeName(id: number): string {
  return FILE_TYPES[id] ?? `FILE_TYPE_${id}`;
}

export function fileTypeId(name: string): number {
  const id = FILE_TYPES.indexOf(name);
  if (id < 0) throw new Error(`unknown file type ${name}`);
  return id;
}
