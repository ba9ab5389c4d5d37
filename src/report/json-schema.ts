import { z } from 'zod';
import { RunResults } from '../results/schema.ts';

/** The JSON Schema of results.json, generated from the zod schema the harness validates with. */
export function resultsJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(RunResults, { target: 'draft-2020-12', io: 'output' }),
    $id: 'urn:criu-compat:results:v1',
    title: 'criu-compat results.json (schemaVersion 1)',
  };
}
