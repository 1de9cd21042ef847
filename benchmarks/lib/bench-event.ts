// The benchmark's own broadcast frame, read without JSON.parse. A subscriber must cost the load generator
// much less than it costs the server, or on a small machine the generator is what gets measured: this
// scan reads the send time, the sequence number and the recovery offset straight from the frame's bytes.
//
// The frame is `42["m",{"t":<ms>,"s":<int>}]` or, with connection state recovery,
// `42["m",{"t":<ms>,"s":<int>},"<offset>"]` (the publisher writes `{ t, s }` in that order and the
// server forwards the object as it is). Anything else returns undefined and takes the general path.

export interface BenchEvent {
  sentAt: number;
  seq: number;
  offset: string | undefined;
}

const PREFIX = Buffer.from('42["m",{"t":');
const SEQ_KEY = Buffer.from(',"s":');
const QUOTE = 0x22;
const CLOSE_BRACE = 0x7d;
const COMMA = 0x2c;

export function parseBenchEvent(frame: Buffer): BenchEvent | undefined {
  if (frame.length < PREFIX.length + 8 || frame.compare(PREFIX, 0, PREFIX.length, 0, PREFIX.length) !== 0)
    return undefined;
  const t = readNumber(frame, PREFIX.length);
  if (!t || frame.compare(SEQ_KEY, 0, SEQ_KEY.length, t.end, t.end + SEQ_KEY.length) !== 0) return undefined;
  const s = readNumber(frame, t.end + SEQ_KEY.length);
  if (!s || frame[s.end] !== CLOSE_BRACE) return undefined;
  let offset: string | undefined;
  if (frame[s.end + 1] === COMMA && frame[s.end + 2] === QUOTE) {
    const close = frame.indexOf(QUOTE, s.end + 3);
    if (close === -1) return undefined;
    offset = frame.toString('latin1', s.end + 3, close);
  }
  return { sentAt: t.value, seq: s.value, offset };
}

/** A non-negative decimal number (digits, optional fraction) starting at `at`. */
function readNumber(frame: Buffer, at: number): { value: number; end: number } | undefined {
  let i = at;
  let value = 0;
  while (i < frame.length) {
    const c = frame[i] as number;
    if (c < 0x30 || c > 0x39) break;
    value = value * 10 + (c - 0x30);
    i++;
  }
  if (i === at) return undefined;
  if (frame[i] === 0x2e) {
    i++;
    let scale = 0.1;
    while (i < frame.length) {
      const c = frame[i] as number;
      if (c < 0x30 || c > 0x39) break;
      value += (c - 0x30) * scale;
      scale /= 10;
      i++;
    }
  }
  return { value, end: i };
}
