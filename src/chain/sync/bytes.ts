// Growable writer and bounds-checked reader for sync frames: unsigned LEB128 varints, fixed-size
// fields and length-prefixed bytes. The reader never throws; it records the first problem instead.

export class ByteWriter {
  private buf: Uint8Array;
  private at = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.at + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.at));
    this.buf = next;
  }

  u8(v: number): this {
    this.room(1);
    this.buf[this.at++] = v & 0xff;
    return this;
  }

  /** Safe integers only; 7 bits a byte, so small numbers cost one byte. */
  varint(v: number): this {
    this.room(8);
    let x = v;
    while (x >= 0x80) {
      this.buf[this.at++] = (x % 0x80) | 0x80;
      x = Math.floor(x / 0x80);
    }
    this.buf[this.at++] = x;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
    return this;
  }

  hex(h: string): this {
    return this.bytes(Buffer.from(h, "hex"));
  }

  /** Length-prefixed bytes. */
  blob(b: Uint8Array): this {
    return this.varint(b.length).bytes(b);
  }

  get length(): number {
    return this.at;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.at);
  }
}

export class ByteReader {
  private at = 0;
  problem: string | undefined;

  constructor(private readonly buf: Uint8Array) {}

  fail(problem: string): void {
    this.problem ??= `${problem} at byte ${this.at}`;
  }

  get ok(): boolean {
    return this.problem === undefined;
  }

  get done(): boolean {
    return this.at === this.buf.length;
  }

  u8(): number {
    if (this.at >= this.buf.length) {
      this.fail("ends early");
      return 0;
    }
    return this.buf[this.at++] as number;
  }

  /** At most 8 bytes (53 bits); a longer or non-minimal encoding is a problem. */
  varint(what: string, max = Number.MAX_SAFE_INTEGER): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      if (!this.ok) return 0;
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) this.fail(`${what} is not minimally encoded`);
        else if (value > max) this.fail(`${what} ${value} is over ${max}`);
        return this.ok ? value : 0;
      }
      scale *= 0x80;
    }
    this.fail(`${what} is too long`);
    return 0;
  }

  bytes(n: number, what: string): Uint8Array {
    if (this.at + n > this.buf.length) {
      this.fail(`${what} runs past the end`);
      return new Uint8Array(0);
    }
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  hex(n: number, what: string): string {
    return Buffer.from(this.bytes(n, what)).toString("hex");
  }

  blob(what: string, max: number): Uint8Array {
    const n = this.varint(`${what} length`, max);
    return this.ok ? this.bytes(n, what) : new Uint8Array(0);
  }
}
