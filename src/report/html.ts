import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import type { RunResults } from '../results/schema.ts';
import { detailsSection, failuresSection } from './html/cells.ts';
import { cellIds } from './html/format.ts';
import { headerSection, notRunSection } from './html/header.ts';
import { matrixSection } from './html/matrix.ts';
import { frozenSection, migrationGridsSection, migrationsSection } from './html/metrics.ts';
import { pilotsSection } from './html/pilots.ts';
import { capabilitiesSection, inventoriesSection } from './html/pools.ts';
import { scaleChart } from './html/scale-chart.ts';

/**
 * The HTML report: one self-contained file (inline CSS, a few lines of
 * inline script, an inline SVG chart; nothing fetched at view time), rendered
 * with handlebars (report.hbs) from one model per section, built in html/.
 * Only what results.json holds is shown: reasons, diagnoses, metrics, CRIU
 * commands and log excerpts — never memory contents (results.json never
 * holds any).
 */
export function reportModel(results: RunResults) {
  const ids = cellIds(results);
  return {
    ...headerSection(results),
    ...notRunSection(results),
    ...matrixSection(results, ids),
    ...pilotsSection(results, ids),
    failures: failuresSection(results, ids),
    details: detailsSection(results, ids),
    ...capabilitiesSection(results),
    frozen: frozenSection(results),
    scaleChart: scaleChart(results),
    migrations: migrationsSection(results, ids),
    migrationGrids: migrationGridsSection(results, ids),
    inventories: inventoriesSection(results),
  };
}

let compiled: HandlebarsTemplateDelegate | undefined;

export function renderHtml(results: RunResults): string {
  compiled ??= Handlebars.compile(readFileSync(join(import.meta.dirname, 'report.hbs'), 'utf8'), { strict: false });
  const model = reportModel(results);
  return compiled({ ...model, scaleChart: model.scaleChart ? new Handlebars.SafeString(model.scaleChart) : null });
}
