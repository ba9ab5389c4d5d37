import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { issueToError } from '../config/issue-error.ts';
import { ConfigError } from '../errors.ts';
import { RunResults } from '../results/schema.ts';
import { writeFileAtomic } from '../util/fs.ts';
import { redactDeep } from '../util/redact.ts';
import { renderHtml } from './html.ts';
import { resultsJsonSchema } from './json-schema.ts';
import { renderJUnit } from './junit.ts';
import { renderMarkdown } from './markdown.ts';

export const REPORT_FILES = { html: 'report.html', markdown: 'summary.md', junit: 'junit.xml', schema: 'results.schema.json' } as const;

/** Writes the HTML report, the Markdown summary, JUnit XML and the JSON Schema beside results.json in DIR. */
export async function writeReports(given: RunResults, dir: string): Promise<Record<keyof typeof REPORT_FILES, string>> {
  const results = redactDeep(given); // runs recorded before redaction existed may hold a mirror's credentials
  const paths = Object.fromEntries(Object.entries(REPORT_FILES).map(([k, f]) => [k, join(dir, f)])) as Record<keyof typeof REPORT_FILES, string>;
  await writeFileAtomic(paths.html, renderHtml(results));
  await writeFileAtomic(paths.markdown, renderMarkdown(results));
  await writeFileAtomic(paths.junit, renderJUnit(results));
  await writeFileAtomic(paths.schema, `${JSON.stringify(resultsJsonSchema(), null, 2)}\n`);
  return paths;
}

/** Reads a run (its directory or its results.json) and validates it; a bad file is a ConfigError (exit 2). */
export async function readRun(path: string): Promise<RunResults> {
  const file = (await stat(path).catch(() => undefined))?.isDirectory() ? join(path, 'results.json') : path;
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(file, '', (e as NodeJS.ErrnoException).code ? `a readable results.json (${(e as NodeJS.ErrnoException).code})` : `valid JSON (${(e as Error).message})`, undefined, { cause: e });
  }
  const r = RunResults.safeParse(raw);
  if (!r.success) throw issueToError(file, r.error.issues[0]!, 'criu-compat results (schemaVersion 1)');
  return r.data;
}
