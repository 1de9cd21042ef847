// First step of `npm test`: stops at once, with one message, when a tool the tests start is missing,
// rather than failing test after test (or, worse, passing with most of them skipped).
import { missingTools, SKIP_MISSING } from '../test/helpers/tools.js';

const missing = missingTools();
if (missing.length > 0) {
  const names = missing.map((t) => t.command).join(', ');
  const packages = missing.map((t) => t.package).join(' ');
  if (process.env[SKIP_MISSING] === '1' && process.env.CI !== 'true') {
    process.stdout.write(
      `check-tools: ${names} missing; ${SKIP_MISSING}=1: the tests that need them are skipped (see "# skipped" in each tier's summary)\n`,
    );
  } else {
    process.stderr.write(
      `check-tools: the tests need ${names}, which ${missing.length === 1 ? 'is' : 'are'} not installed. ` +
        `Run \`npm run setup\` (apt-get install ${packages}), or set ${SKIP_MISSING}=1 to skip the tests that need them.\n`,
    );
    process.exit(1);
  }
}
