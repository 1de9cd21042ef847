// Types for infra/render.mjs (plain JavaScript so that users run it with Node alone).

export type LoadBalancerKind = 'haproxy' | 'nginx';

export interface Backend {
  /** HAProxy server name and cookie value; [A-Za-z0-9._-]. */
  name: string;
  host: string;
  /** Public (Socket.IO) port. */
  port: number;
  /** Admin port: /readyz for health checks. */
  adminPort: number;
}

export interface HaproxySettings {
  listen?: string;
  /** Concurrent client connections (default 8000). */
  maxconn?: string;
  statsSocket?: string;
  /** `ip:port` of a DNS server: backend names are re-resolved at run time. */
  resolver?: string;
}

export interface NginxSettings {
  listen?: string;
  workerProcesses?: string;
  pidFile?: string;
  errorLog?: string;
  /** A path or `off`. */
  accessLog?: string;
  tempDir?: string;
}

export type RenderOptions = { backends: Backend[] } & (HaproxySettings | NginxSettings);

export declare const KINDS: readonly LoadBalancerKind[];
export declare const TEMPLATES: Record<LoadBalancerKind, URL>;
export declare class RenderError extends Error {}
export declare function parseBackend(spec: string, index: number): Backend;
export declare function renderTemplate(
  template: string,
  vars: Record<string, string>,
  lists: Record<string, Array<Record<string, string>>>,
): string;
export declare function renderConfig(
  kind: 'haproxy',
  options: { backends: Backend[] } & HaproxySettings,
): string;
export declare function renderConfig(kind: 'nginx', options: { backends: Backend[] } & NginxSettings): string;
export declare function renderConfig(kind: LoadBalancerKind, options: RenderOptions): string;
export declare function parseArgs(argv: string[]): {
  kind: LoadBalancerKind;
  options: RenderOptions;
  out: string | undefined;
};
