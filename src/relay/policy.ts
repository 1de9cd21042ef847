import { type NamespacePolicy, type PatternPart, parsePattern } from '../config/namespaces.js';
import { type Identity, identityOf } from './users.js';

/** What a policy reads of a socket: its `data`, where the verified identity is kept. */
export interface PolicySubject {
  data: unknown;
}

/** A namespace policy compiled once: may this socket join / publish to this room? */
export interface CompiledPolicy {
  allowsJoin(room: string, subject: PolicySubject): boolean;
  allowsPublish(room: string, subject: PolicySubject): boolean;
}

/** `*` matches any run of characters (including none); every other character matches itself. */
export function compilePattern(pattern: string): RegExp {
  return toRegExp(parsePattern(pattern), { userId: undefined, claims: undefined }) as RegExp;
}

export function compilePolicy(policy: Pick<NamespacePolicy, 'join' | 'publish'>): CompiledPolicy {
  const join = compileList(policy.join);
  const publish = compileList(policy.publish);
  return { allowsJoin: join, allowsPublish: publish };
}

type Matcher = (room: string, subject: PolicySubject) => boolean;

/**
 * Patterns without placeholders become one RegExp each, once. Patterns with placeholders become a RegExp
 * per socket, built on its first check and cached until its `data` object is replaced (identity changes
 * always replace it: see auth.ts and users.ts), so a join costs no RegExp compilation after the first.
 */
function compileList(patterns: readonly string[]): Matcher {
  const parsed = patterns.map((p) => parsePattern(p));
  const personal = parsed.filter((parts) => parts.some(isPlaceholder));
  const fixed = parsed
    .filter((parts) => !parts.some(isPlaceholder))
    .map((parts) => toRegExp(parts, { userId: undefined, claims: undefined }) as RegExp);
  const cache = new WeakMap<PolicySubject, { data: unknown; patterns: RegExp[] }>();
  return (room, subject) => {
    if (fixed.some((re) => re.test(room))) return true;
    if (personal.length === 0) return false;
    let entry = cache.get(subject);
    if (!entry || entry.data !== subject.data) {
      const identity = identityOf(subject.data);
      entry = {
        data: subject.data,
        patterns: personal.flatMap((parts) => toRegExp(parts, identity) ?? []),
      };
      cache.set(subject, entry);
    }
    return entry.patterns.some((re) => re.test(room));
  };
}

function isPlaceholder(part: PatternPart): boolean {
  return part.kind === 'userId' || part.kind === 'claim';
}

/** The pattern as a RegExp for this identity; undefined when a placeholder has no value (matches nothing). */
function toRegExp(parts: PatternPart[], identity: Identity): RegExp | undefined {
  let body = '';
  for (const part of parts) {
    if (part.kind === 'any') body += '.*';
    else {
      const text =
        part.kind === 'text'
          ? part.text
          : part.kind === 'userId'
            ? identity.userId
            : placeholderValue(identity.claims?.[part.name]);
      if (text === undefined || text === '') return undefined;
      body += text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${body}$`, 's');
}

/** A claim fills a placeholder when it is a string, or a number in its decimal form; never an object. */
function placeholderValue(claim: unknown): string | undefined {
  if (typeof claim === 'string') return claim;
  if (typeof claim === 'number' && Number.isFinite(claim)) return String(claim);
  return undefined;
}
