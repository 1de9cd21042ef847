// Messages between the benchmark runner and its load-generator processes.

export type Request =
  | {
      cmd: 'connect';
      urls: string[];
      count: number;
      room: string;
      localAddresses: string[];
      /** Client i connects to urls[(urlOffset + i) % urls.length]. */
      urlOffset: number;
      /** Initial connections use only the first `spread` URLs (default: all); reconnects rotate over all. */
      spread?: number;
      addressOffset: number;
      concurrency: number;
      /** Reconnect with recovery after a transport close (recovery storms). */
      reconnect?: boolean;
      /** Track per-client delivery counts for sequence numbers below this. */
      maxSeq?: number;
    }
  | {
      cmd: 'publish';
      urls: string[];
      room: string;
      rate: number;
      durationMs: number;
      maxMessages: number;
      publishers: number;
      maxInFlight: number;
      seqStart: number;
    }
  | { cmd: 'stop-publish' }
  | { cmd: 'reset' }
  | { cmd: 'stats' }
  | { cmd: 'seq-report'; expected: number }
  /** Disconnect → recovered connect, ms, of every reconnect since the last such request (then cleared). */
  | { cmd: 'reconnect-times' }
  /** Drops every client's connection and keeps its session, without reconnecting. */
  | { cmd: 'suspend' }
  /** Reconnects every suspended client at once (`concurrency` at a time) with its session, to `url`. */
  | { cmd: 'resume'; url: string; concurrency: number }
  | { cmd: 'close' };

export type Reply = Record<string, unknown>;
