import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { SUITES } from '../config/schema.ts';

const SRC = join(import.meta.dirname, '..');
const hostFiles = [
  ...['runner/run.ts', 'runner/provision.ts', 'runner/pool-groups.ts', 'runner/environments.ts', 'cli/images.ts'],
  ...readdirSync(join(SRC, 'backends'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => `backends/${f}`),
];

describe('host side', () => {
  test('provides what suites declare without knowing them: no suite name, session name or suite workload list in the host code', () => {
    const words = [...SUITES.map((s) => `'${s}'`), 'runtime-peer', 'PEER_SESSION', 'CONTAINER_WORKLOADS', "from '../../suites/"];
    const found = hostFiles.flatMap((f) => words.filter((w) => readFileSync(join(SRC, f), 'utf8').includes(w)).map((w) => `${f}: ${w}`));
    expect(found).toEqual([]);
  });
});
