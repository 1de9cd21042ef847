/**
 * Binary values in backend calls and replies. JSON has no bytes, so a Buffer, ArrayBuffer or typed array
 * travels as `{ "$binary": "<base64>" }`, both ways, for the HTTP function and the work queue alike.
 * Without it a client's binary argument reached a function as `{"type":"Buffer","data":[…]}`, which no
 * reply could turn back into binary.
 */
const BINARY_KEY = '$binary';

/** `value` with every binary part as `{ $binary }`, ready for JSON. */
export function binaryToJson(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return { [BINARY_KEY]: value.toString('base64') };
  if (value instanceof ArrayBuffer) return { [BINARY_KEY]: Buffer.from(value).toString('base64') };
  if (ArrayBuffer.isView(value)) {
    return { [BINARY_KEY]: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  }
  if (Array.isArray(value)) return value.map(binaryToJson);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, binaryToJson(v)]));
  }
  return value;
}

/** `value` parsed from JSON with every `{ $binary }` (an object with that one string key) as a Buffer. */
export function binaryFromJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(binaryFromJson);
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    const [first] = entries;
    if (entries.length === 1 && first?.[0] === BINARY_KEY && typeof first[1] === 'string') {
      return Buffer.from(first[1], 'base64');
    }
    return Object.fromEntries(entries.map(([k, v]) => [k, binaryFromJson(v)]));
  }
  return value;
}
