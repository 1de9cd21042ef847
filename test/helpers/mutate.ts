// Deterministic generator of malformed Engine.IO / Socket.IO frames for the fuzz test: a seeded PRNG picks
// a shape (garbage packet types, bad JSON, deep nesting, wrong argument types to the built-ins, binary junk,
// absurd attachment counts) and then, often, mutates its bytes.

/** mulberry32: a small seeded PRNG, so a failing run can be replayed with the same seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Frame = string | Buffer;

export class FrameFuzzer {
  readonly #rand: () => number;

  constructor(seed: number) {
    this.#rand = prng(seed);
  }

  int(n: number): number {
    return Math.floor(this.#rand() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  chance(p: number): boolean {
    return this.#rand() < p;
  }

  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }

  /** A JSON value of any type, sometimes nested, sometimes huge. */
  value(depth = 0): unknown {
    switch (this.int(depth > 3 ? 8 : 11)) {
      case 0:
        return null;
      case 1:
        return this.chance(0.5);
      case 2:
        return this.pick([0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER]);
      case 3:
        return '';
      case 4:
        return this.pick([
          'fz',
          'r',
          'lobby',
          'AAAAAAAAAAAAAAAAAAAA',
          '\u0000',
          '\ud800',
          'é🙂',
          '__proto__',
        ]);
      case 5:
        return 'y'.repeat(this.pick([127, 128, 129, 256, 257, 5000]));
      case 6:
        return { _placeholder: true, num: this.pick([0, 1, -1, 999999, '0']) };
      case 7:
        // Own `__proto__` keys, as JSON.parse makes them.
        return JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}');
      case 8:
        return Array.from({ length: this.int(4) }, () => this.value(depth + 1));
      case 9:
        return { room: this.value(depth + 1), event: this.value(depth + 1), data: this.value(depth + 1) };
      default:
        return Object.fromEntries(
          Array.from({ length: this.int(4) }, (_, i) => [`k${i}`, this.value(depth + 1)]),
        );
    }
  }

  /**
   * A structurally valid Socket.IO EVENT with arguments of arbitrary types. Unless `survivable`, the name
   * is sometimes reserved or not a string, which makes Socket.IO close the connection.
   */
  event(survivable = false): string {
    const name =
      survivable || this.chance(0.95)
        ? this.pick(['join', 'leave', 'publish', 'whoami', 'other', ''])
        : this.pick(['connect', 'disconnect', 42, null, [], {}]);
    const args: unknown[] = [name];
    const n = this.int(4);
    for (let i = 0; i < n; i++) args.push(this.value());
    const ack = this.chance(0.6) ? this.pick(['1', '2', '0', '4294967296', '99999999999999999999']) : '';
    const nsp = survivable || this.chance(0.95) ? '' : `${this.pick(['/', '/x', '/admin', '/%', '//'])},`;
    return `42${nsp}${ack}${JSON.stringify(args)}`;
  }

  /** Nesting far beyond any sane payload, balanced or not. */
  deep(): string {
    const depth = this.pick([1_000, 10_000, 100_000]);
    const open = this.pick(['[', '{"a":']);
    const close = open === '[' ? ']' : '}';
    const nested = open.repeat(depth) + (this.chance(0.7) ? `1${close.repeat(depth)}` : '');
    switch (this.int(4)) {
      case 0:
        return `42["publish",{"room":"fz","event":"deep","data":${nested}}]`;
      case 1:
        return `421["join",${nested}]`;
      case 2:
        return `42${nested}`;
      default:
        return `40${nested}`;
    }
  }

  /**
   * One frame to send. Most are well-formed events with arguments of the wrong types, which reach the
   * built-ins and keep the connection open; the rest are garbage that Engine.IO or Socket.IO closes it for.
   */
  frame(): Frame {
    let frame: string;
    switch (this.int(20)) {
      case 0:
        return this.bytes(1 + this.int(64));
      case 1:
        // Binary events announcing absurd attachment counts, or placeholders pointing nowhere.
        frame = `45${this.pick(['1', '2', '999999999', '99999999999999999999', '-1', ''])}-${JSON.stringify([
          'publish',
          { room: 'fz', event: 'bin', data: { _placeholder: true, num: this.pick([0, 5, -1]) } },
        ])}`;
        break;
      case 2:
        frame = this.deep();
        break;
      case 3:
        // Engine.IO packet types, valid and not.
        frame = `${this.pick(['0', '1', '2', '3', '5', '6', '7', '9', 'b', 'x', '', '2probe', '3probe'])}${this.chance(0.5) ? 'junk' : ''}`;
        break;
      case 4:
        // Socket.IO packet types, valid and not, with bad or no payloads.
        frame = `4${this.pick(['0', '1', '2', '3', '4', '5', '6', '7', '8', 'x', ''])}${this.pick(['', '{', '[', '"x"', '{}', '[]', '{"token":1}', 'null'])}`;
        break;
      case 5:
        frame = `42${this.pick(['[', '["join"', '["join",]', '{"a":1}', '"join"', '[1,2,3', 'null', '[]', '[null]'])}`;
        break;
      default:
        frame = this.event();
    }
    return this.chance(0.15) ? this.mutate(frame) : frame;
  }

  /**
   * A binary event as it travels: a header announcing some attachments and holding placeholders, some of
   * them pointing past the attachments or referring to one many times, then the attachments themselves.
   */
  binaryEvent(): Frame[] {
    const attachments = this.pick([0, 1, 2, 10, 11]);
    const references = this.pick([1, 2, 10, 11, 200]);
    const data = Array.from({ length: references }, () => ({
      _placeholder: true,
      num: this.pick([0, attachments - 1, attachments, -1, 99_999]),
    }));
    const header = `45${attachments}-${JSON.stringify(['publish', { room: 'fz', event: 'bin', data }])}`;
    return [header, ...Array.from({ length: attachments }, () => this.bytes(1 + this.int(8)))];
  }

  /** Byte-level damage: flips, truncation, insertion, duplication. */
  mutate(frame: string): string {
    const chars = [...frame];
    const edits = 1 + this.int(3);
    for (let i = 0; i < edits && chars.length > 0; i++) {
      const at = this.int(chars.length);
      switch (this.int(4)) {
        case 0:
          chars[at] = String.fromCharCode(this.int(0x3000));
          break;
        case 1:
          chars.length = at;
          break;
        case 2:
          chars.splice(at, 0, this.pick(['"', ',', ']', '}', '\\', '\u0000', '\x1e', '[', '{']));
          break;
        default:
          chars.splice(at, 0, ...chars.slice(at, at + this.int(16)));
      }
    }
    return chars.join('');
  }

  /** A long-polling POST body: several packets joined by the record separator, some damaged. */
  pollingBody(): Frame {
    if (this.chance(0.1)) return this.bytes(1 + this.int(256));
    const n = 1 + this.int(4);
    const packets: string[] = [];
    for (let i = 0; i < n; i++) {
      // Polling carries binary as base64 ("b" prefix).
      for (const frame of this.chance(0.1) ? this.binaryEvent() : [this.frame()]) {
        packets.push(typeof frame === 'string' ? frame : `b${frame.toString('base64')}`);
      }
    }
    return packets.join(this.chance(0.9) ? '\x1e' : '');
  }
}
