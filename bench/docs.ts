// `npm run bench -- --docs`: the run's tables into docs/design/performance.md,
// between its two marker comments, so the page shows the last run as printed.
import { readFileSync, writeFileSync } from 'node:fs';

const PAGE = new URL('../docs/design/performance.md', import.meta.url).pathname;
const START = '<!-- bench:start (npm run bench -- --docs writes what follows) -->';
const END = '<!-- bench:end -->';

/** Replace the tables of the performance page with `markdown`. */
export function writeDocs(markdown: string): void {
  const page = readFileSync(PAGE, 'utf8');
  const from = page.indexOf(START);
  const to = page.indexOf(END);
  if (from < 0 || to < from) {
    throw new Error(
      `${PAGE} has no "${START}" … "${END}" section: put them back around the last run's tables`,
    );
  }
  writeFileSync(PAGE, `${page.slice(0, from + START.length)}\n\n${markdown}\n\n${page.slice(to)}`);
  process.stderr.write(`tables written to ${PAGE}\n`);
}
