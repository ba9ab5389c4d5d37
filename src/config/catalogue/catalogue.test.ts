import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { CONTAINER_WORKLOADS, WORKLOADS, WorkloadName } from '../schema.ts';
import { CATALOGUE, CLASS_CRIU_OPTIONS, RUNTIME_CRIU_OPTIONS, WORKLOAD_GROUPS, classNames, workloadClassOf } from './index.ts';

const fixtures = join(import.meta.dirname, '../../../fixtures/workloads');

test('each class is a fixture of its own that speaks the protocol', () => {
  expect(new Set(classNames()).size).toBe(CATALOGUE.length);
  for (const c of CATALOGUE) {
    const file = join(fixtures, `${c.fixture ?? c.name}.c`);
    expect(existsSync(file), `${file} for class ${c.name}`).toBe(true);
    const text = readFileSync(file, 'utf8');
    expect(text, `${c.name}.c includes cc-workload.h`).toMatch(/#include "cc-workload\.h"/);
    for (const call of ['cc_ready()', 'cc_pass()', 'cc_fail(']) expect(text, `${c.name}.c calls ${call}`).toContain(call);
  }
});

test('each row is complete: group, one line of what it verifies, known CRIU options, named capabilities', () => {
  for (const c of CATALOGUE) {
    expect(WORKLOAD_GROUPS).toContain(c.group);
    expect(c.verifies.length, c.name).toBeGreaterThan(20);
    expect(c.verifies, c.name).not.toMatch(/\n/);
    for (const o of c.criu) expect(CLASS_CRIU_OPTIONS).toContain(o);
    for (const n of c.needs) expect(n.name && n.why, `${c.name} names what it needs and why`).toBeTruthy();
    for (const a of [...c.args, ...(c.peer?.args ?? [])]) expect(a, `${c.name}: an argument`).not.toMatch(/\s/);
  }
});

test('container classes need only options the runtimes pass on, and no peer process', () => {
  for (const c of CATALOGUE.filter((x) => x.container)) {
    for (const o of c.criu) expect(RUNTIME_CRIU_OPTIONS as readonly string[], `${c.name}: ${o}`).toContain(o);
    expect(c.peer, c.name).toBeUndefined();
  }
});

test('the config reads its names from the catalogue: every class is accepted, the default is the inDefault ones', () => {
  for (const name of classNames()) expect(WorkloadName.safeParse(name).success, name).toBe(true);
  expect(WorkloadName.safeParse('no-such-class').success).toBe(false);
  expect(WORKLOADS).toEqual(CATALOGUE.filter((c) => c.inDefault).map((c) => c.name));
  expect(CONTAINER_WORKLOADS).toEqual(CATALOGUE.filter((c) => c.container).map((c) => c.name));
  expect(() => workloadClassOf('no-such-class')).toThrow(/no workload class "no-such-class"/);
});
