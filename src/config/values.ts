import {
  type Static,
  type TInteger,
  type TLiteral,
  type TSchema,
  type TString,
  type TUnion,
  type TUnsafe,
  Type,
} from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ConfigError } from '../errors.js';

/**
 * A kind of setting value: its TypeBox schema (the TypeScript type, the bounds, the JSON Schema) and the
 * parser that turns flag or env text, or a config-file value, into it. A parser throws an Error that says
 * what it expected; `field` puts the setting's name in front.
 */
export interface Typed<S extends TSchema> {
  schema: S;
  parse: (raw: unknown) => Static<S>;
}

/** Runs a parser on one input, naming the setting (flag, env variable or file key) when it refuses. */
export function field<T>(setting: string, parse: (raw: unknown) => T, raw: unknown): T {
  try {
    return parse(raw);
  } catch (err) {
    throw new ConfigError(setting, (err as Error).message);
  }
}

/** An integer within the schema's bounds, from digits (flags, env, files) or a number (files). */
export function integer(minimum: number, maximum: number, what: string): Typed<TInteger> {
  const schema = Type.Integer({ minimum, maximum });
  return {
    schema,
    parse(raw) {
      const text = typeof raw === 'number' ? String(raw) : raw;
      if (typeof text !== 'string' || !/^\d+$/.test(text.trim())) {
        throw new Error(
          `expected ${what} (an integer from ${minimum} to ${maximum}), got ${JSON.stringify(raw)}`,
        );
      }
      const n = Number(text);
      if (!Value.Check(schema, n)) {
        throw new Error(`expected ${what} from ${minimum} to ${maximum}, got ${n}`);
      }
      return n;
    },
  };
}

/** A non-empty string, trimmed, that matches `pattern` when one is given. */
export function text(what: string, pattern?: string): Typed<TString> {
  const schema = Type.String({ minLength: 1, ...(pattern === undefined ? {} : { pattern }) });
  return {
    schema,
    parse(raw) {
      const value = typeof raw === 'string' ? raw.trim() : raw;
      if (!Value.Check(schema, value)) throw new Error(`expected ${what}, got ${JSON.stringify(raw)}`);
      return value;
    },
  };
}

/** One of a few names, taken as given (not trimmed). */
export function oneOf<const T extends string>(...names: T[]): Typed<TUnion<TLiteral<T>[]>> {
  const schema = Type.Union(names.map((name) => Type.Literal(name)));
  const quoted = names.map((name) => JSON.stringify(name));
  const what = `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`;
  return {
    schema,
    parse(raw) {
      if (Value.Check(schema, raw)) return raw;
      throw new Error(`expected ${what}, got ${JSON.stringify(raw)}`);
    },
  };
}

/** The same kind, unset unless given: its setting has no default. */
export function optional<S extends TSchema>(typed: Typed<S>) {
  return { schema: Type.Optional(typed.schema), parse: typed.parse };
}

/** A URL with one of `schemes`. Errors show the scheme, never the URL: it may carry a password. */
function url(what: string, ...schemes: string[]): Typed<TString> {
  const nonEmpty = text(what);
  return {
    schema: nonEmpty.schema,
    parse(raw) {
      const value = nonEmpty.parse(raw);
      let parsed: URL;
      try {
        parsed = new URL(value);
      } catch {
        throw new Error(`expected ${what}, got an unparsable value`);
      }
      if (!schemes.includes(parsed.protocol)) {
        throw new Error(`expected ${what}, got the scheme ${JSON.stringify(parsed.protocol)}`);
      }
      return value;
    },
  };
}

export const redisUrl = url('a redis:// or rediss:// URL', 'redis:', 'rediss:');
export const httpUrl = url('an http:// or https:// URL', 'http:', 'https:');

/** A secret key; errors never echo it. */
export const secret: Typed<TString> = {
  schema: Type.String({ minLength: 16 }),
  parse(raw) {
    if (typeof raw === 'string' && Value.Check(secret.schema, raw)) return raw;
    throw new Error('expected a secret of at least 16 characters');
  },
};

/** A frozen list; TypeBox's own arrays are typed mutable. */
function listOf<S extends TSchema>(
  items: S,
  options: { minItems?: number } = {},
): TUnsafe<readonly Static<S>[]> {
  return Type.Unsafe<readonly Static<S>[]>(Type.Array(items, options));
}

/** The items of a list given as a YAML/JSON array or as comma-separated text (flags, env), trimmed. */
function commaList(raw: unknown): string[] {
  return (Array.isArray(raw) ? raw : String(raw ?? '').split(','))
    .map((item) => String(item).trim())
    .filter(Boolean);
}

export const HostPort = Type.Object({
  host: Type.String({ minLength: 1 }),
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
});
/** A `host:port` address. */
export type HostPort = Static<typeof HostPort>;

/** `host:port,…` addresses (Redis Cluster nodes, Sentinels); IPv6 hosts in brackets. */
export const hostPorts: Typed<TUnsafe<readonly HostPort[]>> = {
  schema: listOf(HostPort, { minItems: 1 }),
  parse(raw) {
    const list = commaList(raw);
    if (list.length === 0) throw new Error('expected host:port addresses separated by commas');
    return Object.freeze(
      list.map((item) => {
        const match = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(item);
        const address = { host: match?.[1]?.replace(/^\[|\]$/g, ''), port: Number(match?.[2]) };
        if (!Value.Check(HostPort, address)) {
          throw new Error(`expected host:port addresses separated by commas, got ${JSON.stringify(item)}`);
        }
        return Object.freeze(address);
      }),
    );
  },
};

const hostName = Type.String({
  pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$',
});

/** DNS names without a port, lowercased; may be empty. */
export const hostNames: Typed<TUnsafe<readonly string[]>> = {
  schema: listOf(hostName),
  parse(raw) {
    const list = commaList(raw).map((name) => name.toLowerCase());
    for (const name of list) {
      if (!Value.Check(hostName, name)) {
        throw new Error(
          `expected host names such as relay-admin.internal (no port), got ${JSON.stringify(name)}`,
        );
      }
    }
    return Object.freeze(list);
  },
};

/** Browser origins (`scheme://host[:port]`, nothing more); at least one. */
export const origins: Typed<TUnsafe<readonly string[]>> = {
  schema: listOf(Type.String({ minLength: 1 }), { minItems: 1 }),
  parse(raw) {
    const list = commaList(raw);
    for (const origin of list) {
      let parsed: URL | undefined;
      try {
        parsed = new URL(origin);
      } catch {}
      if (parsed?.origin !== origin) {
        throw new Error(`expected origins such as https://app.example.com, got ${JSON.stringify(origin)}`);
      }
    }
    if (list.length === 0) throw new Error('expected at least one origin');
    return Object.freeze(list);
  },
};
