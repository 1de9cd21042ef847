import type { NamespacePolicy } from '../config/namespaces.js';

/** A namespace policy compiled once: `allowsJoin(room)` / `allowsPublish(room)`. */
export interface CompiledPolicy {
  allowsJoin(room: string): boolean;
  allowsPublish(room: string): boolean;
}

/** `*` matches any run of characters (including none); every other character matches itself. */
export function compilePattern(pattern: string): RegExp {
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`, 's');
}

export function compilePolicy(policy: NamespacePolicy): CompiledPolicy {
  const join = policy.join.map(compilePattern);
  const publish = policy.publish.map(compilePattern);
  return {
    allowsJoin: (room) => join.some((re) => re.test(room)),
    allowsPublish: (room) => publish.some((re) => re.test(room)),
  };
}
