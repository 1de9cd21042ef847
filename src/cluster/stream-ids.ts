/** Redis stream entry ids (`<ms>-<seq>`): the recovery offsets clients hold. */
const STREAM_ID = /^(\d+)-(\d+)$/;

export function isStreamId(value: unknown): value is string {
  return typeof value === 'string' && STREAM_ID.test(value);
}

/** Negative, zero or positive as `a` is before, equal to or after `b`. Both must be stream ids. */
export function compareStreamIds(a: string, b: string): number {
  const [, aMs, aSeq] = STREAM_ID.exec(a) as RegExpExecArray;
  const [, bMs, bSeq] = STREAM_ID.exec(b) as RegExpExecArray;
  return Number(aMs) - Number(bMs) || Number(aSeq) - Number(bSeq);
}
