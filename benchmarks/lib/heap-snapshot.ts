// What a V8 heap snapshot holds, summed by kind of object: the memory breakdown of an idle connection.
import { readFile } from 'node:fs/promises';

/** Self sizes and counts of one kind of object in a snapshot. */
export interface Kind {
  bytes: number;
  objects: number;
}

/** One kind's share of each added connection. */
export interface KindPerConnection {
  kind: string;
  bytes: number;
  objects: number;
}

/**
 * Self sizes in a heap snapshot (written by `v8.writeHeapSnapshot`) summed by kind: an object by its
 * constructor, an array by its role (`(object properties)`, ...), anything else by V8's node type
 * (`(closure)`, `(string)`, `(hidden)`, `(code)`, ...).
 */
export async function kindsOf(file: string): Promise<Map<string, Kind>> {
  const snapshot = JSON.parse(await readFile(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const [types] = snapshot.snapshot.meta.node_types;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const { nodes, strings } = snapshot;
  const kinds = new Map<string, Kind>();
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt] as number] as string;
    const name =
      type === 'object' || type === 'array' || type === 'native' ? strings[nodes[i + nameAt] as number] : '';
    const kind = name ? name.slice(0, 60) : `(${type})`;
    const entry = kinds.get(kind) ?? { bytes: 0, objects: 0 };
    entry.bytes += nodes[i + sizeAt] as number;
    entry.objects += 1;
    kinds.set(kind, entry);
  }
  return kinds;
}

/** What `connections` more connections added between two snapshots, per connection, largest first. */
export function perConnection(
  before: Map<string, Kind>,
  after: Map<string, Kind>,
  connections: number,
): KindPerConnection[] {
  return [...after]
    .map(([kind, { bytes, objects }]) => {
      const was = before.get(kind) ?? { bytes: 0, objects: 0 };
      return {
        kind,
        bytes: Math.round((bytes - was.bytes) / connections),
        objects: Math.round(((objects - was.objects) / connections) * 100) / 100,
      };
    })
    .sort((a, b) => b.bytes - a.bytes);
}
