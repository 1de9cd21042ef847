// Real headless Chromium (Debian's `chromium` package) driven by playwright-core: no downloaded browsers.
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** `extraArgs`: more Chromium switches, such as `--host-resolver-rules` to point a name at loopback. */
export function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...ARGS, ...extraArgs] });
}

/** Something a page reported that a user would see in the console: an uncaught error or a console error. */
export interface PageProblem {
  kind: 'pageerror' | 'console';
  text: string;
  /** Where the console message came from (a script, or the request that failed). */
  url: string;
  at: number;
}

export interface WatchedPage {
  page: Page;
  problems: PageProblem[];
}

/** Opens `url` in a fresh browser context, recording every page error and console error from the start. */
export async function openPage(
  browser: Browser,
  url: string,
  viewport = { width: 1000, height: 720 },
): Promise<WatchedPage> {
  const page = await browser.newPage({ viewport });
  const problems: PageProblem[] = [];
  page.on('pageerror', (err) =>
    problems.push({ kind: 'pageerror', text: err.stack ?? err.message, url: page.url(), at: Date.now() }),
  );
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    problems.push({ kind: 'console', text: message.text(), url: message.location().url, at: Date.now() });
  });
  await page.goto(url);
  return { page, problems };
}

/** The problems `allowed` does not excuse, one per line (empty: none). */
export function unexpectedProblems(
  watched: WatchedPage,
  allowed: (problem: PageProblem) => boolean = () => false,
): string {
  return watched.problems
    .filter((problem) => !allowed(problem))
    .map((problem) => `${problem.kind}: ${problem.text} (${problem.url})`)
    .join('\n');
}
